"""Run simulated (or any) history through the hot path's own operators, in batch, so `decisions` holds
features exactly as the stream serves them before the first model is trained.

The history is read from Delta `transactions_truth`, shaped as the Kafka records the hot path reads,
decided with the rules and champion in force (published to a serving folder of its own) against the
DICT entries of key_registry and dict_marks, and written
to `decisions` and `quarantine` as the archive writes the decision log. One batch: the operators
order each key's rows by event time, so every payment gets the history strictly before it. A
backfill replaces the previous one: the rows it wrote (same source topic) are removed first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.domain.schema import TRANSACTION_FIELDS
from pixguard.stream.archive import decided_rows, decision_log_schema, quarantined_rows
from pixguard.stream.hot_path import (
    HotPathTopics,
    decided,
    decision_record_schema,
    hot_path_settings,
    rule_schema,
)
from pixguard.stream.seed import dict_seeds
from pixguard.stream.serving import ServingPublisher, compile_model_inputs
from pixguard.stream.validate import EventTimeBounds

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BACKFILL_SERVING = "decisions_backfill_serving"
INGESTION_DELAY_MS = 150  # simulated time between a payment and its arrival at the stream


@dataclass(frozen=True)
class BackfillOutcome:
    decided: int
    quarantined: int


def backfill_decisions(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, decided_at: datetime, source_topic: str
) -> BackfillOutcome:
    from pyspark.sql import functions as F

    tables, target = config.tables, bundle.target
    _forget_previous_backfill(spark, target.table_path(tables.decisions), source_topic)
    _forget_previous_backfill(spark, target.table_path(tables.quarantine), source_topic)
    history = spark.read.format("delta").load(target.table_path(tables.transactions_truth))
    arrival = F.timestamp_millis(F.unix_millis("event_time") + INGESTION_DELAY_MS)
    kafka_shaped = history.select(
        F.concat_ws(":", "payer_ispb", "payer_branch", "payer_account").cast("binary").alias("key"),
        F.to_json(F.struct(*TRANSACTION_FIELDS)).cast("binary").alias("value"),
        F.lit(source_topic).alias("topic"),
        F.lit(-1).alias("partition"),
        F.monotonically_increasing_id().alias("offset"),
        arrival.alias("timestamp"),
    )
    topics = HotPathTopics.of(config)
    history_topics = HotPathTopics(**{**topics.__dict__, "transactions": source_topic})
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)

    serving = bundle.target.checkpoint_path(BACKFILL_SERVING)
    publisher = ServingPublisher(spark, bundle, config, serving)
    publisher.refresh(force=True)
    settings = hot_path_settings(bundle, config, serving, fixed_decided_at_ms=int(decided_at.timestamp() * 1000))
    checks = load_transaction_checks(bundle.project_root)
    inputs = compile_model_inputs(spark, rule_schema(spark).json())
    seeds = dict_seeds(spark, bundle, config)
    records = decided(kafka_shaped, history_topics, checks, bounds, settings, inputs, seeds)

    log = records.where(F.col("topic") == topics.decision_log)
    outcomes = (
        log.select(F.from_json("value", decision_log_schema(spark)).alias("o"))
        .select("o.*")
        .withColumn("published_at", F.col("decided_at"))
        .withColumn("is_repeat", F.lit(False))
        .persist()
    )
    try:
        decisions = decided_rows(outcomes, [f.name for f in decision_record_schema(spark).fields])
        quarantined = quarantined_rows(outcomes)
        decisions.write.format("delta").mode("append").option("mergeSchema", "true").save(
            target.table_path(tables.decisions)
        )
        quarantined.write.format("delta").mode("append").save(target.table_path(tables.quarantine))
        return BackfillOutcome(decisions.count(), quarantined.count())
    finally:
        outcomes.unpersist()


def _forget_previous_backfill(spark: SparkSession, path: str, source_topic: str) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if DeltaTable.isDeltaTable(spark, path):
        DeltaTable.forPath(spark, path).delete(F.col("topic") == source_topic)
