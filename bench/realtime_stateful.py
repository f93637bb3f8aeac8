"""Benchmark: the hot path itself in Spark 4.3's real-time mode (issue 23: the same plan accepted by
`trigger(realTime=...)`, p50/p95/p99/max at 1,000 tx/s).

The plan is the streaming job's (pixguard.stream.hot_path.start_hot_path: the contract compiled to a
JVM row pipeline, the payer, DICT and decision keyed-state operators, rules and the LightGBM champion
scored in the JVM), Kafka -> Kafka, started with `real_time=`. What differs from the job: no archive
queries (they write Delta, which has no build for Spark 4.3) and no serving publisher thread (the
4.3 environment has no MLflow): the rules file and the champion's LightGBM text (exported by
bench/champion_text.py from the registry) are published to the serving folder once, as the
publisher would. Every input record comes out once on pix.decisions or pix.dlq, so the counts are checked.

The project stays on Spark 4.2, so this runs in an environment of its own, pinned by
bench/spark43.lock: `make bench-realtime-stateful` builds it, compiles the jar against 4.3 and runs
this script. Maven Central serves no spark-sql-kafka for 4.3; the bundle's 4.2.0 is used.

Run: make bench-realtime-stateful RATE=1000 DURATION_S=600 CHECKPOINT_INTERVAL="5 minutes"

`--micro-batch` runs the same harness on this checkout's Spark (4.2) and the streaming job's own
settings (bundle.yaml, its trigger and topic partitions): the hot path alone in micro-batches, beside
the publisher, with what each batch spent (Spark's progress reports) and, with `--event-log DIR`,
Spark's event log for per-stage and per-task times (bench/spark_stages.py reads it):
  .venv/bin/pixguard up --only kafka,mlflow && .venv/bin/python bench/champion_text.py /tmp/champion.txt
  PYTHONPATH=src:bench .venv/bin/python bench/realtime_stateful.py --micro-batch --master "local[2]" \
    --rate 1000 --seconds 180 --model-text /tmp/champion.txt --event-log /tmp/events
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import Consumer

from pixguard.config import Bundle, load_bundle, load_streaming_config
from pixguard.domain.rules import compile_rules
from pixguard.infra.jvm import jvm_package
from pixguard.infra.kafka_topics import ensure_topics
from pixguard.infra.spark import spark_conf
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.stream.hot_path import rule_schema, serving_dir, start_hot_path
from pixguard.stream.serving import compile_model_inputs

DELTA_SETTINGS = ("spark.sql.extensions", "spark.sql.catalog.spark_catalog")


def spark43_conf(bundle: Bundle, features_jar: str) -> dict[str, str]:
    """The streaming job's Spark settings, less Delta, with the jar built for Spark 4.3.
    The Kafka connector stays the bundle's (4.2.0): Maven Central serves none for 4.3."""
    conf = {k: v for k, v in spark_conf(bundle, "streaming").items() if k not in DELTA_SETTINGS}
    packages = [jar for jar in conf["spark.jars"].split(",")[1:] if not Path(jar).name.startswith("delta-")]
    conf["spark.jars"] = ",".join([features_jar, *packages])  # the first was the jar built for 4.2
    conf["spark.driver.extraClassPath"] = features_jar
    # One partition per stateful stage: each stage's task holds a slot for the whole real-time batch.
    conf["spark.sql.shuffle.partitions"] = "1"
    return conf


def micro_batch_conf(bundle: Bundle, event_log: str | None) -> dict[str, str]:
    """The streaming job's own Spark settings; Spark's event log in `event_log` if given."""
    conf = spark_conf(bundle, "streaming")
    conf["spark.sql.streaming.numRecentProgressUpdates"] = "100000"  # every batch, for the summary
    if event_log:
        Path(event_log).mkdir(parents=True, exist_ok=True)
        conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_log})
    return conf


def batch_durations(progress: list[dict]) -> dict[str, dict[str, int]]:
    """p50/p90/p99 of each part of a micro-batch (Spark's durationMs), over the second half of the
    batches that read something: the first half holds the start-up."""
    batches = [p for p in progress if p["numInputRows"] > 0]
    settled = batches[len(batches) // 2 :]
    parts = sorted({name for p in settled for name in p["durationMs"]})
    return {
        name: {f"p{q}": int(np.percentile([p["durationMs"].get(name, 0) for p in settled], q)) for q in (50, 90, 99)}
        for name in parts
    }


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


def percentiles(prefix: str, latency: np.ndarray) -> dict[str, float | None]:
    """None when nothing was measured (e.g. a run shorter than the warm-up)."""
    found = {
        f"{prefix}p{q}_s": round(float(np.percentile(latency, q)), 3) if latency.size else None for q in (50, 95, 99)
    }
    return {**found, f"{prefix}max_s": round(float(latency.max()), 3) if latency.size else None}


def print_timeline(output_ms: np.ndarray, latency: np.ndarray, step_s: int = 30) -> None:
    """Latency by output time: shows whether the tail comes with the checkpoint boundaries."""
    second = (output_ms - output_ms.min()) // (step_s * 1000)
    for start in np.unique(second):
        part = latency[second == start]
        print(
            f"  t+{int(start) * step_s:4d}s  {part.size:6d} records  p50 {np.percentile(part, 50):6.3f} s"
            f"  p99 {np.percentile(part, 99):6.3f} s  max {part.max():6.3f} s"
        )


def main() -> None:
    from pyspark.sql import SparkSession

    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--checkpoint-interval", default="5 minutes")
    parser.add_argument("--drain-seconds", type=float, default=60, help="wait this long for the last outputs")
    parser.add_argument("--warmup-seconds", type=float, default=30, help="also report latency after this")
    parser.add_argument("--master", default="local[8]", help="real-time mode needs a task slot per stage partition")
    parser.add_argument("--features-jar", help="src/jvm compiled against Spark 4.3 (real-time mode)")
    parser.add_argument(
        "--micro-batch", action="store_true", help="this checkout's Spark and the streaming job's settings"
    )
    parser.add_argument("--event-log", help="with --micro-batch: write Spark's event log to this folder")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting over the job's (repeatable)"
    )
    parser.add_argument(
        "--model-text", help="the champion's LightGBM text (bench/champion_text.py); rules alone if not given"
    )
    args = parser.parse_args()
    if not args.micro_batch and not args.features_jar:
        parser.error("real-time mode needs --features-jar (src/jvm compiled against Spark 4.3)")
    suffix = uuid.uuid4().hex[:6]
    os.environ["PIXGUARD_HOME"] = str(
        Path(os.environ.get("PIXGUARD_HOME", Path.home() / ".pixguard")) / "bench" / f"rts-{suffix}"
    )
    bundle = load_bundle()
    config = load_streaming_config(bundle.project_root)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    # Topics of their own; in real-time mode one partition each (it holds a task slot per source partition).
    names = {name: f"bench.rts.{name}.{suffix}" for name in type(config.topics).model_fields}
    partitions = {} if args.micro_batch else {"partitions": 1}
    topics = config.topics.model_copy(
        update={
            name: getattr(config.topics, name).model_copy(update={"name": topic, **partitions})
            for name, topic in names.items()
        }
    )
    config = config.model_copy(update={"topics": topics})
    ensure_topics(bundle.target.kafka, config.topics.all())

    builder = SparkSession.builder.appName("bench-realtime-hot-path").master(args.master)
    conf = micro_batch_conf(bundle, args.event_log) if args.micro_batch else spark43_conf(bundle, args.features_jar)
    conf.update(setting.split("=", 1) for setting in args.conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    print(f"spark {spark.version}")
    rules_file = bundle.project_root / config.rules.path
    rules = compile_rules(spark, rules_file.read_text(), str(rules_file), rule_schema(spark))
    model_text = Path(args.model_text).read_text() if args.model_text else None
    jvm_package(spark, "pixguard.serving.Serving").publish(
        serving_dir(bundle), rules.version, bytearray(rules.program), "champion" if model_text else None, model_text
    )
    inputs = compile_model_inputs(spark, rule_schema(spark).json())
    query = start_hot_path(
        spark, bundle, config, inputs, real_time=None if args.micro_batch else args.checkpoint_interval
    )

    seen: list[tuple[int, int]] = []  # (output broker time, event time) of decided payments
    outcomes: Counter[str] = Counter()

    def record_decision(at_ms: int, record: dict) -> None:
        outcomes[record["decision"]] += 1
        seen.append((at_ms, epoch_ms(record["event_time"])))

    def record_dead_letter(_: int, record: dict) -> None:
        outcomes["quarantined"] += 1

    readers = [
        read_sink(bundle, config.topics.decisions.name, record_decision),
        read_sink(bundle, config.topics.dlq.name, record_dead_letter),
    ]
    time.sleep(20)  # let the real-time batch start
    if query.exception():
        raise query.exception()
    simulator = load_simulator_config(bundle.project_root)
    live = run_live(bundle, config, simulator, args.rate, int(args.rate * args.seconds), seed=5, progress=False)
    deadline = time.monotonic() + args.drain_seconds
    while outcomes.total() < live.sent and time.monotonic() < deadline and query.isActive:
        time.sleep(0.5)
    for stop in readers:
        stop()
    failure = query.exception()
    progress = [json.loads(p.json) for p in query.recentProgress]
    query.stop()
    if failure:
        raise failure
    if not seen:
        raise SystemExit(f"no payment came out of the path in time; outcomes: {dict(outcomes)}")
    output_ms = np.array([a for a, _ in seen])
    event_ms = np.array([b for _, b in seen])
    latency = (output_ms - event_ms) / 1000.0
    print_timeline(output_ms, latency)
    # The first seconds carry the query's start (first batch planned, code warming up): a running
    # stream pays that once per restart, so the figures after it are given beside the whole run's.
    settled = latency[event_ms >= event_ms.min() + args.warmup_seconds * 1000]
    print(
        json.dumps(
            {
                "mode": f"micro-batch every {config.trigger_interval_s:g} s"
                if args.micro_batch
                else f"realTime={args.checkpoint_interval}",
                "spark": spark.version,
                "master": args.master,
                "model": "champion" if model_text else None,
                "rules": rules.version,
                "rate": args.rate,
                "published": live.sent,
                "outcomes": dict(outcomes),
                "unaccounted": live.sent - outcomes.total(),
                **percentiles("", latency),
                **percentiles(f"after_{args.warmup_seconds:g}s_", settled),
                **({"batch_ms": batch_durations(progress)} if args.micro_batch else {}),
            }
        )
    )


if __name__ == "__main__":
    main()
