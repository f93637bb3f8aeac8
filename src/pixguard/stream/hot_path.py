"""The hot path: one streaming query from Kafka to Kafka that decides every payment.

    pix.transactions, pix.dict-keys, pix.dict-marks (one Kafka source)
      -> parse and validate against the contract, the Brasília calendar (Spark SQL: `hot_path_input`)
      -> the keyed-state operators in the JVM (src/jvm/pixguard/hotpath): repeats, payer features,
         the DICT mirror, payee features, the rules and the model in force, the decision
      -> pix.decisions, pix.alerts, pix.dlq, pix.decision-log (one Kafka sink)

No Python runs in its plan and it reads or writes no Delta table (a new query's state is seeded from
a Parquet snapshot of the archive, pixguard.stream.seed), so the same plan runs in micro-batches on
Spark 4.2 and in real-time mode where Spark allows it. What it decides with, the rules and the
champion, is published beside it by the driver (pixguard.stream.serving) and reloaded by the JVM
without a restart. The archive (pixguard.stream.archive) writes the decision log to Delta."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, TRANSACTION_FIELDS, struct_of
from pixguard.features.behaviour import STATE_TTL_MS
from pixguard.features.calendar import with_calendar_features
from pixguard.infra.jvm import empty_frame, jvm_package
from pixguard.stream.sources import read_kafka_topics
from pixguard.stream.validate import (
    KAFKA_COORDINATES,
    QUARANTINE_REASONS,
    EventTimeBounds,
    parse_transactions,
    with_quarantine_reasons,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from pixguard.stream.seed import Seeds

# Query names name the checkpoints: renaming one would orphan its checkpoint.
HOT_PATH_QUERY = "hot_path"
SERVING_FOLDER = "serving"  # beside the checkpoints: what the hot path decides with
PAYMENT_CONTEXT = {"local_hour": "int", "is_night": "boolean"}
# How often, at most, each executor looks for a new rule set or model (a small file read).
SERVING_REFRESH_MS = 1000


@dataclass(frozen=True)
class HotPathTopics:
    transactions: str
    dict_keys: str
    dict_marks: str
    decisions: str
    alerts: str
    dlq: str
    decision_log: str

    @classmethod
    def of(cls, config: StreamingConfig) -> HotPathTopics:
        t = config.topics
        return cls(
            t.transactions.name,
            t.dict_keys.name,
            t.dict_marks.name,
            t.decisions.name,
            t.alerts.name,
            t.dlq.name,
            t.decision_log.name,
        )


def payment_fields() -> dict[str, str]:
    """The typed payment the operators carry and the rules see: the contract's fields, then the calendar."""
    return {**TRANSACTION_FIELDS, **PAYMENT_CONTEXT}


def hot_path_input(records: DataFrame, topics: HotPathTopics, checks: list, bounds: EventTimeBounds) -> DataFrame:
    """Kafka records of the three input topics -> one row per record, as the JVM operators read it
    (src/jvm/pixguard/hotpath/HotPathInput.scala): a payment, a quarantined record with its reasons,
    or a DICT key or mark. A DICT message that is not a row of its table has no kind and is left out
    here (the DICT mirror keeps it in Delta, as received).

    Event times are checked against the broker's arrival time of each record, not the clock of the
    batch: a real-time batch lasts its whole checkpoint interval and current_timestamp() is fixed per batch."""
    from pyspark.sql import functions as F

    checked = with_quarantine_reasons(
        parse_transactions(records), checks, bounds, now=F.col("kafka_timestamp")
    ).transform(with_calendar_features)
    text = F.col("value").cast("string")
    topic = F.col("topic")
    # Parsed only on their own topic: a payment is not read three times.
    key_row = F.from_json(F.when(topic == topics.dict_keys, text), struct_of(KEY_REGISTRY_FIELDS))
    mark_row = F.from_json(F.when(topic == topics.dict_marks, text), struct_of(DICT_MARK_FIELDS))
    is_payment = (topic == topics.transactions) & (F.size(QUARANTINE_REASONS) == 0)
    is_key = (topic == topics.dict_keys) & key_row["key"].isNotNull() & key_row["created_at"].isNotNull()
    is_mark = (topic == topics.dict_marks) & mark_row["marked_value"].isNotNull() & mark_row["marked_at"].isNotNull()
    kind = (
        F.when(is_payment, F.lit("payment"))
        .when(topic == topics.transactions, F.lit("quarantined"))
        .when(is_key, F.lit("dict_key"))
        .when(is_mark, F.lit("dict_mark"))
    )
    payment = F.struct(*[F.col(name) for name in payment_fields()])
    return (
        checked.select(
            kind.alias("kind"),
            F.when(is_payment, F.col("event_time")).otherwise(F.col("kafka_timestamp")).alias("event_time"),
            F.when(is_payment, payment).alias("payment"),
            QUARANTINE_REASONS,
            F.coalesce("end_to_end_id", "raw_end_to_end_id").alias("end_to_end_id"),
            "value",
            F.when(is_key, key_row["key"]).otherwise(mark_row["marked_value"]).alias("dict_value"),
            F.when(is_key, key_row["created_at"]).otherwise(mark_row["marked_at"]).alias("dict_at"),
            *KAFKA_COORDINATES,
        )
        .where(F.col("kind").isNotNull())
        .withColumn("partition", F.col("partition").cast("int"))
    )


def hot_path_settings(
    bundle: Bundle, config: StreamingConfig, serving: str | None = None, fixed_decided_at_ms: int | None = None
) -> str:
    """The JVM operators' settings (HotPathSettings.fromJson), from the streaming config. `serving`:
    another serving folder than the job's; `fixed_decided_at_ms`: one decision time for every payment."""
    topics = HotPathTopics.of(config)
    return json.dumps(
        {
            "serving_dir": serving or serving_dir(bundle),
            "serving_refresh_ms": SERVING_REFRESH_MS,
            "review_threshold": config.scoring.review_threshold,
            "block_threshold": config.scoring.block_threshold,
            "top_reasons": config.scoring.top_reasons,
            "state_ttl_ms": STATE_TTL_MS,
            "decisions_topic": topics.decisions,
            "alerts_topic": topics.alerts,
            "dlq_topic": topics.dlq,
            "decision_log_topic": topics.decision_log,
            # The watermark only lets the keyed-state operators be chained and expire their histories;
            # it is wider than the oldest event time validation accepts, so no valid payment is late for it.
            "watermark_delay_s": config.validation.watermark_delay_s,
            "fixed_decided_at_ms": -1 if fixed_decided_at_ms is None else fixed_decided_at_ms,
        }
    )


def serving_dir(bundle: Bundle) -> str:
    return bundle.target.checkpoint_path(SERVING_FOLDER)


def compiled_input(spark: SparkSession, records_schema, topics: HotPathTopics, checks: list, bounds) -> bytes:  # noqa: ANN001
    """`hot_path_input` compiled for the JVM (pixguard.serving.RowPipeline), over the records' schema."""
    pipeline = jvm_package(spark, "pixguard.serving.RowPipeline")
    empty = empty_frame(spark, records_schema.simpleString())
    return bytes(pipeline.compile(hot_path_input(empty, topics, checks, bounds)._jdf))


def decided(
    records: DataFrame,
    topics: HotPathTopics,
    checks: list,
    bounds: EventTimeBounds,
    settings_json: str,
    model_inputs: bytes,
    seeds: Seeds | None = None,
) -> DataFrame:
    """Kafka-shaped records (key, value, topic, partition, offset, timestamp) -> the hot path's Kafka
    records (topic, key, value): `hot_path_input`, then the JVM operators."""
    from pyspark.sql.classic.dataframe import DataFrame

    spark = records.sparkSession
    records = records.select("key", "value", "topic", "partition", "offset", "timestamp")
    pipeline = compiled_input(spark, records.schema, topics, checks, bounds)
    hot_path = jvm_package(spark, "pixguard.hotpath.HotPath")
    payer, dict_entries, payee = (None, None, None) if seeds is None else seeds.initial_states(spark, hot_path)
    out = hot_path.build(
        records._jdf, bytearray(pipeline), settings_json, bytearray(model_inputs), payer, dict_entries, payee
    )
    return DataFrame(out, spark)


def hot_path_records(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, real_time: bool = False
) -> DataFrame:
    topics = HotPathTopics.of(config)
    return read_kafka_topics(
        spark, bundle.target.kafka, [topics.transactions, topics.dict_keys, topics.dict_marks], config.source, real_time
    )


def start_hot_path(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    model_inputs: bytes,
    seeds: Seeds | None = None,
    available_now: bool = False,
    real_time: str | None = None,
) -> StreamingQuery:
    """Start the hot path. `real_time` ("5 minutes"): Spark's real-time mode, with that checkpoint
    interval, where the Spark version runs it; else micro-batches every `trigger_interval_s`."""
    records = decided(
        hot_path_records(spark, bundle, config, real_time=real_time is not None),
        HotPathTopics.of(config),
        load_transaction_checks(bundle.project_root),
        EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s),
        hot_path_settings(bundle, config),
        model_inputs,
        seeds,
    )
    writer = (
        records.writeStream.format("kafka")
        .options(**bundle.target.kafka.spark_options())
        .queryName(HOT_PATH_QUERY)
        .option("checkpointLocation", bundle.target.checkpoint_path(HOT_PATH_QUERY))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    elif real_time is not None:
        writer = writer.outputMode("update").trigger(realTime=real_time)
    else:
        writer = writer.trigger(processingTime=f"{int(config.trigger_interval_s * 1000)} milliseconds")
    return writer.start()


def decision_record_schema(spark: SparkSession):  # noqa: ANN201 - a StructType
    """The decision record's columns (src/jvm/pixguard/hotpath/DecisionRecord.scala), as a StructType."""
    from pyspark.sql.types import StructType

    hot_path = jvm_package(spark, "pixguard.hotpath.HotPath")
    record = hot_path.decisionRecord(struct_of(payment_fields()).json())
    return StructType.fromJson(json.loads(record.schema().json()))


def rule_schema(spark: SparkSession):  # noqa: ANN201 - a StructType
    """What a rule's condition and a model input may name: the payment and its features."""
    from pyspark.sql.types import StructType

    hot_path = jvm_package(spark, "pixguard.hotpath.HotPath")
    record = hot_path.decisionRecord(struct_of(payment_fields()).json())
    return StructType.fromJson(json.loads(record.ruleSchema().json()))
