"""The archive path: the topics to Delta, on a slower trigger, exactly once per Kafka record (Delta's
streaming sink and its checkpoint), beside the hot path.

- decisions_archive:  pix.decision-log -> Delta decisions (the decided outcomes) + the job's metrics
- quarantine_archive: pix.decision-log -> Delta quarantine (the quarantined outcomes)
- raw_ingest (pixguard.stream.ingest), fraud_labels, dict_keys, dict_marks: topics as received

Spark's Kafka sink is at-least-once: a hot path micro-batch replayed after a crash publishes its
outcomes again. Every outcome names its source record (topic, partition, offset) and is keyed by
it on the decision log, so all outcomes of one record share a partition in the order published; the
archive keeps the first of them (pixguard.archive.FirstOutcome in the JVM) and counts the others as
repeats. So `decisions` holds one row per decided payment, the one consumers saw first, and every
consumed record has exactly one outcome in `decisions` or `quarantine` (checked by
pixguard.stream.reconcile, `pixguard reconcile`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, label_schema, struct_of
from pixguard.infra.jvm import jvm_package
from pixguard.stream.hot_path import decision_record_schema
from pixguard.stream.sinks import start_delta_stream
from pixguard.stream.sources import read_kafka_stream

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery
    from pyspark.sql.types import StructType

# Query names name the checkpoints: renaming one would orphan its checkpoint.
DECISIONS_ARCHIVE_QUERY = "decisions_archive"
QUARANTINE_ARCHIVE_QUERY = "quarantine_archive"
LABELS_QUERY = "fraud_labels"
DICT_KEYS_QUERY = "dict_keys"
DICT_MARKS_QUERY = "dict_marks"
# The name of the observed metrics the decisions archive reports with each progress event.
BATCH_METRICS = "decided_batch"

QUARANTINE_COLUMNS = [
    "reason",
    "reasons",
    "end_to_end_id",
    "value",
    "kafka_key",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "quarantined_at",
]


def decision_log_schema(spark: SparkSession) -> StructType:
    """Every field an outcome on the decision log may carry (a decided payment's or a quarantined record's)."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    decided = decision_record_schema(spark)
    extra = [
        StructField("outcome", StringType()),
        StructField("reason", StringType()),
        StructField("value_base64", StringType()),
        StructField("quarantined_at", TimestampType()),
    ]
    # `reasons` is shared: a decision's reasons, or a quarantined record's (both array<string>).
    return StructType([*extra, *decided.fields])


def first_outcomes(log_records: DataFrame, schema: StructType) -> DataFrame:
    """Kafka records of the decision log -> one row per outcome with its fields, `published_at` (the
    log record's broker timestamp: when the outcome was on Kafka) and `is_repeat`."""
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame

    source_id = F.col("key").cast("string")
    narrow = log_records.select(
        F.regexp_extract(source_id, r"^(.*)/[0-9]+$", 1).alias("_source_partition"),
        F.regexp_extract(source_id, r"/([0-9]+)$", 1).cast("long").alias("_source_offset"),
        F.col("partition").alias("_log_partition"),
        F.col("offset").alias("_log_offset"),
        F.col("timestamp").alias("published_at"),
        F.col("value").cast("string").alias("_value"),
    )
    archive = jvm_package(log_records.sparkSession, "pixguard.archive.FirstOutcome")
    marked = DataFrame(
        archive.mark(narrow._jdf, "_source_partition", "_source_offset", "_log_partition", "_log_offset"),
        log_records.sparkSession,
    )
    return marked.select(F.from_json("_value", schema).alias("o"), "published_at", "is_repeat").select(
        "o.*", "published_at", "is_repeat"
    )


def decided_rows(outcomes: DataFrame, decision_columns: list[str]) -> DataFrame:
    from pyspark.sql import functions as F

    return outcomes.where((F.col("outcome") == "decided") & ~F.col("is_repeat")).select(
        *decision_columns, "published_at"
    )


def quarantined_rows(outcomes: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return (
        outcomes.where((F.col("outcome") == "quarantined") & ~F.col("is_repeat"))
        .withColumn("value", F.unbase64("value_base64"))
        .select(*QUARANTINE_COLUMNS)
    )


def batch_metrics_columns(quarantine_reasons: list[str]) -> list[Column]:
    """What each archived batch says about the service (observed metrics, one row a batch): counts by
    outcome and decision, the quarantine reasons, event -> decision on Kafka latency, the score
    distribution and the versions that decided."""
    from pyspark.sql import functions as F

    from pixguard.monitoring.batch_metrics import LATENCY_QUANTILES, SCORE_BUCKETS

    first = ~F.col("is_repeat")
    decided = first & (F.col("outcome") == "decided")
    quarantined = first & (F.col("outcome") == "quarantined")
    latency = F.when(decided, F.unix_millis("published_at") - F.unix_millis("event_time")).cast("double")
    score = F.when(decided, F.col("score"))
    return [
        F.count_if(decided).alias("scored"),
        F.count_if(quarantined).alias("quarantined_all"),
        F.count_if(F.col("is_repeat")).alias("repeats"),
        *[
            F.count_if(decided & (F.col("decision") == d)).alias(f"decision_{d}")
            for d in ("APPROVE", "REVIEW", "BLOCK")
        ],
        *[F.count_if(quarantined & (F.col("reason") == r)).alias(f"reason_{r}") for r in quarantine_reasons],
        F.count_if(quarantined & ~F.col("reason").isin(quarantine_reasons)).alias("reason_other"),
        F.percentile_approx(latency, list(LATENCY_QUANTILES), 10_000).alias("latency_quantiles"),
        F.max(latency).alias("latency_max"),
        *[F.count_if(score <= bound).alias(f"score_le_{i}") for i, bound in enumerate(SCORE_BUCKETS)],
        F.sum(score).alias("score_sum"),
        F.count_if(decided & F.col("score").isNull()).alias("unscored"),
        F.max_by(F.when(decided, F.col("model_version")), F.when(decided, F.col("decided_at"))).alias("model_version"),
        F.max_by(F.when(decided, F.col("rules_version")), F.when(decided, F.col("decided_at"))).alias("rules_version"),
    ]


def start_archive_queries(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, quarantine_reasons: list[str], available_now: bool
) -> list[StreamingQuery]:
    """The two decision log queries: decisions (with the job's batch metrics) and quarantine."""
    schema = decision_log_schema(spark)
    decision_columns = [f.name for f in decision_record_schema(spark).fields]
    target = bundle.target

    def outcomes() -> DataFrame:
        log = read_kafka_stream(spark, target.kafka, config.topics.decision_log.name, config.source)
        return first_outcomes(log, schema)

    observed = outcomes().observe(BATCH_METRICS, *batch_metrics_columns(quarantine_reasons))
    return [
        start_delta_stream(
            decided_rows(observed, decision_columns),
            path=target.table_path(config.tables.decisions),
            checkpoint=target.checkpoint_path(DECISIONS_ARCHIVE_QUERY),
            query_name=DECISIONS_ARCHIVE_QUERY,
            trigger_interval_s=config.archive_trigger_interval_s,
            available_now=available_now,
        ),
        start_delta_stream(
            quarantined_rows(outcomes()),
            path=target.table_path(config.tables.quarantine),
            checkpoint=target.checkpoint_path(QUARANTINE_ARCHIVE_QUERY),
            query_name=QUARANTINE_ARCHIVE_QUERY,
            trigger_interval_s=config.archive_trigger_interval_s,
            available_now=available_now,
        ),
    ]


def start_labels_query(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> StreamingQuery:
    from pyspark.sql import functions as F

    reports = read_kafka_stream(spark, bundle.target.kafka, config.topics.fraud_reports.name, config.source)
    labels = reports.select(
        F.from_json(F.col("value").cast("string"), label_schema()).alias("label"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("received_at"),
    ).select("label.*", "partition", "offset", "received_at")
    return start_delta_stream(
        labels.where(F.col("end_to_end_id").isNotNull()),
        path=bundle.target.table_path(config.tables.fraud_labels),
        checkpoint=bundle.target.checkpoint_path(LABELS_QUERY),
        query_name=LABELS_QUERY,
        trigger_interval_s=config.archive_trigger_interval_s,
        available_now=available_now,
    )


def start_dict_mirror_queries(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> list[StreamingQuery]:
    """Each message on pix.dict-keys or pix.dict-marks is appended as a row of key_registry or
    dict_marks (the hot path keeps the same messages as keyed state). A message that is not such a
    row lands with null fields: kept as received, never used."""
    from pyspark.sql import functions as F

    feeds = [
        (config.topics.dict_keys, KEY_REGISTRY_FIELDS, config.tables.key_registry, DICT_KEYS_QUERY),
        (config.topics.dict_marks, DICT_MARK_FIELDS, config.tables.dict_marks, DICT_MARKS_QUERY),
    ]
    queries = []
    for topic, fields, table, query_name in feeds:
        events = read_kafka_stream(spark, bundle.target.kafka, topic.name, config.source)
        rows = events.select(F.from_json(F.col("value").cast("string"), struct_of(fields)).alias("row"))
        queries.append(
            start_delta_stream(
                rows.select("row.*"),
                path=bundle.target.table_path(table),
                checkpoint=bundle.target.checkpoint_path(query_name),
                query_name=query_name,
                trigger_interval_s=config.archive_trigger_interval_s,
                available_now=available_now,
            )
        )
    return queries
