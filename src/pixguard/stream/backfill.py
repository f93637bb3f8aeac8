"""Run simulated (or any) history through the decision pipeline, so `decisions` holds features
exactly as the stream serves them before the first model is trained.

The history is read as a stream from Delta `transactions_truth` in one availableNow batch: the
stateful operators order each key's rows by event time within a batch, so one batch gives every
transaction the history strictly before it, and no row can be late for the watermark. Decisions
go to Delta only (nothing is published to Kafka), with their own checkpoint. A backfill replaces
the previous one: its checkpoint and the decisions it wrote (same source topic) are removed first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.schema import TRANSACTION_FIELDS
from pixguard.stream import checkpoint_files
from pixguard.stream.decisions import DecisionBatch
from pixguard.stream.job import checked_and_featured, checkpoint_query_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BACKFILL_QUERY = "decisions_backfill"
INGESTION_DELAY_MS = 150  # simulated time between a payment and its arrival at the stream


def backfill_decisions(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, decided_at: datetime, source_topic: str
) -> DecisionBatch:
    from pyspark.sql import functions as F

    checkpoint = bundle.target.checkpoint_path(BACKFILL_QUERY)
    _forget_previous_backfill(spark, bundle.target.table_path(config.tables.decisions), checkpoint, source_topic)
    history = spark.readStream.format("delta").load(bundle.target.table_path(config.tables.transactions_truth))
    arrival = F.timestamp_millis(F.unix_millis("event_time") + INGESTION_DELAY_MS)
    kafka_shaped = history.select(
        F.concat_ws(":", "payer_ispb", "payer_branch", "payer_account").cast("binary").alias("key"),
        F.to_json(F.struct(*TRANSACTION_FIELDS)).cast("binary").alias("value"),
        F.lit(source_topic).alias("topic"),
        F.lit(-1).alias("partition"),
        F.lit(-1).cast("long").alias("offset"),
        arrival.alias("timestamp"),
    )
    decision_input = checked_and_featured(kafka_shaped, bundle, config, now=F.col("kafka_timestamp"))
    app_id: dict[str, str] = {}

    def txn_app_id() -> str:
        if "id" not in app_id:
            app_id["id"] = f"{BACKFILL_QUERY}-{checkpoint_query_id(spark, checkpoint)}"
        return app_id["id"]

    writer = DecisionBatch(bundle, config, txn_app_id, now=lambda: decided_at, publish_to_kafka=False)
    query = (
        decision_input.writeStream.queryName(BACKFILL_QUERY)
        .option("checkpointLocation", checkpoint)
        .foreachBatch(writer)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return writer


def _forget_previous_backfill(spark: SparkSession, decisions_path: str, checkpoint: str, source_topic: str) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    checkpoint_files.delete(spark, checkpoint, recursive=True)
    if DeltaTable.isDeltaTable(spark, decisions_path):
        DeltaTable.forPath(spark, decisions_path).delete(F.col("topic") == source_topic)
