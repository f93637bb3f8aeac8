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
from pixguard.stream.archive import decided_rows, quarantined_rows
from pixguard.stream.batch import decide_in_batch, kafka_shaped
from pixguard.stream.hot_path import decision_record_schema
from pixguard.stream.seed import dict_seeds

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BACKFILL_SERVING = "decisions_backfill_serving"


@dataclass(frozen=True)
class BackfillOutcome:
    decided: int
    quarantined: int


def backfill_decisions(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, decided_at: datetime, source_topic: str
) -> BackfillOutcome:
    tables, target = config.tables, bundle.target
    _forget_previous_backfill(spark, target.table_path(tables.decisions), source_topic)
    _forget_previous_backfill(spark, target.table_path(tables.quarantine), source_topic)
    history = spark.read.format("delta").load(target.table_path(tables.transactions_truth))
    batch = decide_in_batch(
        spark,
        bundle,
        config,
        kafka_shaped(history, source_topic),
        source_topic,
        decided_at,
        BACKFILL_SERVING,
        seeds=dict_seeds(spark, bundle, config),
    )
    outcomes = batch.outcomes.persist()
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
