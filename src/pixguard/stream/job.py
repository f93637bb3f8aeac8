"""The streaming job: five queries over Kafka, each with its own checkpoint under the target.

- raw_ingest: pix.transactions as received -> Delta transactions_raw
- decisions:  pix.transactions -> validate -> features -> rules + model -> decisions, quarantine,
              pix.decisions, pix.alerts, pix.dlq (foreachBatch: DecisionBatch)
- fraud_labels: pix.fraud-reports -> Delta fraud_labels
- dict_keys, dict_marks: the DICT mirror, pix.dict-keys and pix.dict-marks -> Delta key_registry and
              dict_marks (the reference tables the decisions join)
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.contract import load_transaction_checks
from pixguard.delta_tables import read_if_exists
from pixguard.features.enrich import STATE_TTL_MS, with_behaviour_features
from pixguard.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, TRANSACTION_FIELDS, label_schema, struct_of
from pixguard.stream import checkpoint_files
from pixguard.stream.batch_plan import BatchPlans
from pixguard.stream.decisions import DecisionBatch
from pixguard.stream.ingest import start_raw_ingest
from pixguard.stream.sinks import start_delta_stream
from pixguard.stream.sources import read_kafka_stream
from pixguard.stream.validate import (
    KAFKA_COORDINATES,
    QUARANTINE_REASONS,
    EventTimeBounds,
    parse_transactions,
    valid_transactions,
    with_quarantine_reasons,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from pixguard.monitoring.job_monitor import JobMonitor

log = logging.getLogger("pixguard.stream")

# Query names name the checkpoints: renaming one would orphan its checkpoint.
DECISIONS_QUERY = "decisions"
LABELS_QUERY = "fraud_labels"
DICT_KEYS_QUERY = "dict_keys"
DICT_MARKS_QUERY = "dict_marks"
HISTORY_PIN = "pixguard_history_version.json"  # inside the decision query's checkpoint


class FeatureStateMismatch(RuntimeError):
    def __init__(self, checkpoint: str) -> None:
        super().__init__(
            f"the payer and payee state in the checkpoint {checkpoint} was written by another version of "
            "the feature operators (build/pixguard-features.jar), whose state layout differs. To go on, "
            "move that checkpoint aside: the decision query then starts anew, seeds its state from "
            "`decisions` (the payments of the last 90 days) and reads Kafka from source.starting_offsets."
        )


def decision_input(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> DataFrame:
    """Every consumed record once: valid ones with their features, invalid ones with their reasons."""
    from pyspark.sql import functions as F

    raw = read_kafka_stream(spark, bundle.target.kafka, config.topics.transactions.name, config.source)
    return checked_and_featured(
        raw,
        bundle,
        config,
        now=F.current_timestamp(),
        history=decided_history(
            spark, bundle.target.checkpoint_path(DECISIONS_QUERY), bundle.target.table_path(config.tables.decisions)
        ),
    )


def decided_history(spark: SparkSession, checkpoint: str, decisions_path: str) -> DataFrame | None:
    """The payments in `decisions` the feature state can still reach (STATE_TTL_MS): the past a new
    decision query starts from, e.g. the history `make demo` backfills. Read only by a query's first
    micro-batch; a query resuming from its checkpoint has its own state.

    The table is read as of the version pinned when the query's checkpoint was new: if the first
    micro-batch committed its decisions and the job died before the checkpoint did, the replayed
    batch must not find its own payments in its past (each would be quarantined as a repeat).
    Once the first batch has committed, Spark no longer reads the history: the query gets none of
    it (an empty frame of the same shape), since the pinned version leaves the Delta log after
    `delta.logRetentionDuration` (30 days) and reading it would fail every later restart."""
    from pyspark.sql import functions as F

    version = pinned_history_version(spark, checkpoint, decisions_path)
    if version is None:
        return None
    if checkpoint_files.has_files(spark, f"{checkpoint.rstrip('/')}/commits"):
        decisions = spark.read.format("delta").load(decisions_path).where(F.lit(False))
    else:
        decisions = spark.read.format("delta").option("versionAsOf", version).load(decisions_path)
    reach = F.timestamp_millis(F.unix_millis(F.current_timestamp()) - STATE_TTL_MS)
    return decisions.where(F.col("event_time") >= reach).select(*TRANSACTION_FIELDS)


def pinned_history_version(spark: SparkSession, checkpoint: str, decisions_path: str) -> int | None:
    """The `decisions` version a new query's history is read at, kept inside its checkpoint (so it
    goes with it): recorded by the first start, reused by a restart. None: no table then."""
    pin = f"{checkpoint.rstrip('/')}/{HISTORY_PIN}"
    if (recorded := checkpoint_files.read_text(spark, pin)) is not None:
        return json.loads(recorded)["version"]
    table = read_if_exists(spark, decisions_path)  # no pin yet: this checkpoint is new
    version = None if table is None else _latest_version(spark, decisions_path)
    checkpoint_files.write_text(spark, pin, json.dumps({"version": version}), overwrite=False)
    return version


def _latest_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def checked_and_featured(
    raw: DataFrame, bundle: Bundle, config: StreamingConfig, now: Column, history: DataFrame | None = None
) -> DataFrame:
    """Kafka-shaped records (key, value, topic, partition, offset, timestamp) -> the decision input.
    `now` (over the parsed columns, e.g. kafka_timestamp) is the clock event times are checked against:
    processing time live, ingestion time in a backfill. `history` seeds a new query's feature state."""
    from pyspark.sql import functions as F

    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    checked = with_quarantine_reasons(
        parse_transactions(raw), load_transaction_checks(bundle.project_root), bounds, now=now
    )
    featured = with_behaviour_features(valid_transactions(checked), config.validation.watermark_delay_s, history)
    invalid = checked.where(F.size(QUARANTINE_REASONS) > 0).select(
        *KAFKA_COORDINATES, "value", QUARANTINE_REASONS, "raw_end_to_end_id"
    )
    return featured.unionByName(invalid, allowMissingColumns=True)


def checkpoint_query_id(spark: SparkSession, checkpoint: str) -> str:
    """The query id Spark keeps in the checkpoint: stable across restarts, new with a new checkpoint,
    which is exactly the lifetime a Delta txnAppId needs."""
    metadata = checkpoint_files.read_text(spark, f"{checkpoint.rstrip('/')}/metadata")
    if metadata is None:
        raise FileNotFoundError(f"{checkpoint} has no metadata: the query has not started on it")
    return json.loads(metadata.splitlines()[0])["id"]


def start_decision_query(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    available_now: bool = False,
    monitor: JobMonitor | None = None,
) -> tuple[StreamingQuery, DecisionBatch]:
    checkpoint = bundle.target.checkpoint_path(DECISIONS_QUERY)
    app_id: dict[str, str] = {}

    def txn_app_id() -> str:
        if "id" not in app_id:
            app_id["id"] = f"{DECISIONS_QUERY}-{checkpoint_query_id(spark, checkpoint)}"
        return app_id["id"]

    writer = DecisionBatch(bundle, config, txn_app_id, plans=BatchPlans(checkpoint))
    if monitor is not None:  # before start: the first batch is observed too
        monitor.observe(writer, DECISIONS_QUERY)
    stream = (
        decision_input(spark, bundle, config)
        .writeStream.queryName(DECISIONS_QUERY)
        .option("checkpointLocation", checkpoint)
        .foreachBatch(writer)
    )
    stream = (
        stream.trigger(availableNow=True)
        if available_now
        else stream.trigger(processingTime=f"{int(config.trigger_interval_s * 1000)} milliseconds")
    )
    return stream.start(), writer


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
    dict_marks. A message that is not such a row lands with null fields (kept, never joined)."""
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


def run_streaming_job(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> None:
    """Start the five queries; return when all have finished (available_now) or when one fails."""
    from pyspark.errors import StreamingQueryException

    from pixguard.monitoring.job_monitor import start_job_monitor

    # -- monitoring: listener, Prometheus endpoint, alert rules, stream_metrics (pixguard.monitoring)
    monitor = start_job_monitor(spark, bundle, config, job=f"{bundle.name}-streaming")
    queries: list[StreamingQuery] = []
    try:
        queries = [
            start_raw_ingest(spark, bundle, config, available_now),
            start_decision_query(spark, bundle, config, available_now, monitor)[0],
            start_labels_query(spark, bundle, config, available_now),
            *start_dict_mirror_queries(spark, bundle, config, available_now),
        ]
        if available_now:
            for query in queries:
                query.awaitTermination()
            return
        spark.streams.awaitAnyTermination()
        for query in queries:
            if query.exception() is not None:
                raise query.exception()
    except StreamingQueryException as exc:
        if "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE" in str(exc):
            raise FeatureStateMismatch(bundle.target.checkpoint_path(DECISIONS_QUERY)) from exc
        raise
    finally:
        if monitor is not None:
            monitor.stop(queries=[q.name for q in queries if not q.isActive])
