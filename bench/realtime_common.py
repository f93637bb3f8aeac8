"""What the two real-time benchmarks share: the rules their path can run, and the reading of its output.

They run part of the decision outside the micro-batch job: without the DICT reference data, and on
Spark 4.2 without the keyed-state features. A rule naming a column such a path lacks is left out,
and the benchmark prints which rules ran."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from confluent_kafka import Consumer

from pixguard.config import Bundle, StreamingConfig, TopicSettings
from pixguard.kafka_topics import ensure_topics
from pixguard.rules import RuleSet, parse_rules

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery


def rules_that_compile(df: DataFrame, rules_file: Path) -> RuleSet:
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    version, rules = parse_rules(rules_file.read_text(encoding="utf-8"), str(rules_file))
    # PySpark logs each failed analysis at ERROR with the whole plan; here failing is the answer.
    context_log = logging.getLogger("SQLQueryContextLogger")
    level = context_log.level
    context_log.setLevel(logging.CRITICAL)
    kept = []
    try:
        for rule in rules:
            try:
                df.select(F.expr(rule.when)).schema  # noqa: B018 - analysis only
                kept.append(rule)
            except AnalysisException:
                pass
    finally:
        context_log.setLevel(level)
    return RuleSet(version, tuple(kept))


def read_sink(bundle: Bundle, topic: str, record: Callable[[int, dict[str, Any]], None]) -> Callable[[], None]:
    """Read `topic` from its start on a thread, calling `record(broker time ms, JSON value)` for each
    message; returns the function that stops the reading."""
    stop = threading.Event()

    def consume() -> None:
        consumer = Consumer(
            {**bundle.target.kafka.client_config(), "group.id": f"bench-{topic}", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        while not stop.is_set():
            for message in consumer.consume(5_000, 0.5):
                if not message.error():
                    record(message.timestamp()[1], json.loads(message.value()))
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()

    def finish() -> None:
        stop.set()
        reader.join(10)

    return finish


def epoch_ms(timestamp: str) -> int:
    return int(pd.Timestamp(timestamp).value // 1_000_000)


def fresh_topics(
    bundle: Bundle, config: StreamingConfig, pattern: str
) -> tuple[StreamingConfig, TopicSettings, TopicSettings]:
    """New one-partition source and sink topics (`pattern` formatted with "in" and "out"), and the
    config that makes the simulator publish to the source."""
    source = TopicSettings(name=pattern.format("in"), partitions=1)
    sink = TopicSettings(name=pattern.format("out"), partitions=1)
    ensure_topics(bundle.target.kafka, [source, sink])
    return config.model_copy(update={"topics": config.topics.model_copy(update={"transactions": source})}), source, sink


def start_realtime_to_kafka(
    records: DataFrame, bundle: Bundle, topic: str, checkpoint_name: str, checkpoint_interval: str
) -> StreamingQuery:
    """A real-time query writing each record as JSON to `topic`, keyed by its end_to_end_id."""
    from pyspark.sql import functions as F

    return (
        records.select(F.col("end_to_end_id").alias("key"), F.to_json(F.struct("*")).alias("value"))
        .writeStream.format("kafka")
        .options(**bundle.target.kafka.spark_options())
        .option("topic", topic)
        .option("checkpointLocation", str(bundle.state_dir / "bench" / checkpoint_name))
        .outputMode("update")
        .trigger(realTime=checkpoint_interval)
        .start()
    )
