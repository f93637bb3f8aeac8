"""Running the hot path's real plan (hot_path_input, then the JVM operators, RocksDB state) on files of
messages, one file a micro-batch, and reading what it publishes: the tests of the decision itself."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.domain.rules import compile_rules
from pixguard.infra.jvm import jvm_package
from pixguard.stream.hot_path import HotPathTopics, decided, hot_path_settings, rule_schema
from pixguard.stream.serving import compile_model_inputs
from pixguard.stream.validate import EventTimeBounds

TOPICS = HotPathTopics(
    "pix.transactions", "pix.dict-keys", "pix.dict-marks", "pix.decisions", "pix.alerts", "pix.dlq", "pix.decision-log"
)


def publish(spark, serving: Path, rules_text: str, model_text: str | None = None, model_version: str = "1") -> str:  # noqa: ANN001
    """Make `rules_text` (and a LightGBM model) what the hot path at `serving` decides with; returns
    the rules version."""
    rules = compile_rules(spark, rules_text, "rules.yaml", rule_schema(spark))
    jvm_package(spark, "pixguard.serving.Serving").publish(
        str(serving), rules.version, bytearray(rules.program), model_version if model_text else None, model_text
    )
    return rules.version


def write_batches(folder: Path, batches: list[list[tuple[str, dict[str, Any]]]]) -> None:
    """Each inner list becomes one file, so one micro-batch (maxFilesPerTrigger=1): (topic, message) lines."""
    folder.mkdir(parents=True, exist_ok=True)
    first = len(list(folder.iterdir()))
    for index, batch in enumerate(batches, start=first):
        path = folder / f"{index:03d}.json"
        path.write_text("".join(json.dumps({"topic": t, "message": json.dumps(m)}) + "\n" for t, m in batch))
        # The file source orders files by modification time; files written in the same millisecond
        # would otherwise be picked in any order.
        os.utime(path, (1_700_000_000 + index, 1_700_000_000 + index))


def kafka_shaped(lines):  # noqa: ANN001, ANN201
    """(topic, message) lines -> Kafka records; a record arrives 150 ms after its event time (or its
    DICT time), and its offset is a hash of its bytes (distinct records, distinct offsets)."""
    from pyspark.sql import functions as F

    value = F.col("message")
    at = F.coalesce(
        F.get_json_object(value, "$.event_time"),
        F.get_json_object(value, "$.created_at"),
        F.get_json_object(value, "$.marked_at"),
    )
    return lines.select(
        F.lit(b"k").alias("key"),
        value.cast("binary").alias("value"),
        F.col("topic"),
        F.lit(0).alias("partition"),
        F.abs(F.xxhash64(value)).alias("offset"),
        F.timestamp_millis(F.unix_millis(F.to_timestamp(at)) + 150).alias("timestamp"),
    )


def run_hot_path(
    spark,  # noqa: ANN001
    bundle: Bundle,
    config: StreamingConfig,
    tmp_path: Path,
    batches: list[list[tuple[str, dict[str, Any]]]],
    seeds: Any = None,
) -> list[dict[str, Any]]:
    """Write the batches and run the hot path on them to the end (resuming from its checkpoint when
    called again with the same tmp_path); returns its outcomes on the decision log, in publish order."""
    write_batches(tmp_path / "source", batches)
    serving = tmp_path / "serving"
    if not (serving / "current.json").exists():
        publish(spark, serving, (bundle.project_root / config.rules.path).read_text())
    lines = (
        spark.readStream.schema("topic string, message string")
        .option("maxFilesPerTrigger", 1)
        .json(str(tmp_path / "source"))
    )
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    # Days-old test payments: the event-time bounds are the broker time's (the record's), not the clock's.
    settings = hot_path_settings(bundle, config, serving=str(serving))
    records = decided(
        kafka_shaped(lines),
        TOPICS,
        load_transaction_checks(bundle.project_root),
        bounds,
        settings,
        compile_model_inputs(spark, rule_schema(spark).json()),
        seeds,
    )
    published: list[dict[str, Any]] = []

    def collect(df, _batch_id) -> None:  # noqa: ANN001
        for row in df.where(f"topic = '{TOPICS.decision_log}'").collect():
            published.append(json.loads(row.value))

    query = (
        records.writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return published


def by_end_to_end_id(outcomes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome["end_to_end_id"], []).append(outcome)
    return grouped


def tiny_booster(features: list[str], seed: int):  # noqa: ANN201
    """A small LightGBM model of `features` (random data), and its training frame."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((400, len(features))), columns=features)
    labels = (frame[features[0]] + rng.normal(0, 0.1, 400) > 0.8).astype(int)
    data = lgb.Dataset(frame, labels, feature_name=features)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": seed}, data, num_boost_round=5)
    return booster, frame
