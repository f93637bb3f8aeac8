"""Decide payments in one batch with the hot path's own operators: what the history backfill and the
backtest run. No Kafka: the payments are shaped as the Kafka records the hot path reads, each
arriving INGESTION_DELAY_MS after its event time, and decided by the same parse, contract, JVM
operators, rules and model as the stream. One batch: the operators order each key's rows by event
time, so every payment gets the history strictly before it."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.domain.schema import TRANSACTION_FIELDS
from pixguard.stream.archive import decision_log_schema
from pixguard.stream.hot_path import HotPathTopics, decided, hot_path_settings, rule_schema
from pixguard.stream.serving import ServingPublisher, compile_model_inputs
from pixguard.stream.validate import EventTimeBounds

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from pixguard.stream.seed import Seeds

INGESTION_DELAY_MS = 150  # simulated time between a payment and its arrival at the stream


class ModelNotServable(ValueError):
    """The chosen model version could not be served (not found, not loadable, or refused)."""


@dataclasses.dataclass(frozen=True)
class BatchOutcomes:
    """The decision log of the batch (one row per record: decided or quarantined) and what decided it."""

    outcomes: DataFrame
    model_version: str | None
    rules_version: str


def kafka_shaped(payments: DataFrame, topic: str, offset: Column | None = None) -> DataFrame:
    """Payments with the contract's columns (typed, or as text) -> Kafka-shaped records (key, value,
    topic, partition, offset, timestamp) on `topic`, keyed by the payer's account as the producers key them."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    event_time = F.col("event_time")
    if not isinstance(payments.schema["event_time"].dataType, TimestampType):
        event_time = F.try_to_timestamp(event_time)
    return payments.select(
        F.concat_ws(":", "payer_ispb", "payer_branch", "payer_account").cast("binary").alias("key"),
        F.to_json(F.struct(*TRANSACTION_FIELDS)).cast("binary").alias("value"),
        F.lit(topic).alias("topic"),
        F.lit(-1).alias("partition"),
        (F.monotonically_increasing_id() if offset is None else offset).cast("long").alias("offset"),
        F.timestamp_millis(F.unix_millis(event_time) + INGESTION_DELAY_MS).alias("timestamp"),
    )


def decide_in_batch(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    records: DataFrame,
    source_topic: str,
    decided_at: datetime,
    serving_folder: str,
    seeds: Seeds | None = None,
    model_version: str | None = None,
) -> BatchOutcomes:
    """`records` (Kafka-shaped, payments on `source_topic`) -> their outcomes, as the archive reads
    them from the decision log. Decided with the rules file and the champion (or `model_version`),
    published to `serving_folder` (a checkpoint folder of the batch's own), every decision stamped
    `decided_at`."""
    from pyspark.sql import functions as F

    publisher = ServingPublisher(spark, bundle, config, bundle.target.checkpoint_path(serving_folder), model_version)
    publisher.refresh(force=True)
    if model_version is not None and publisher.models.version != model_version:
        raise ModelNotServable(publisher.model_error or f"model version {model_version} was not served")
    if publisher.rules_error:
        raise ValueError(publisher.rules_error)
    topics = HotPathTopics.of(config)
    batch_topics = dataclasses.replace(topics, transactions=source_topic)
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    settings = hot_path_settings(
        bundle,
        config,
        publisher.serving_dir,
        fixed_decided_at_ms=int(decided_at.timestamp() * 1000),
    )
    inputs = compile_model_inputs(spark, rule_schema(spark).json())
    checks = load_transaction_checks(bundle.project_root)
    out = decided(records, batch_topics, checks, bounds, settings, inputs, seeds)
    outcomes = (
        out.where(F.col("topic") == topics.decision_log)
        .select(F.from_json("value", decision_log_schema(spark)).alias("o"))
        .select("o.*")
        .withColumn("published_at", F.col("decided_at"))
        .withColumn("is_repeat", F.lit(False))
    )
    return BatchOutcomes(outcomes, publisher.models.version, publisher.rules.current.version)
