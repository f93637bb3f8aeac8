"""Benchmark: the stateful part of the decision in Spark 4.3's real-time mode (issue 4: p99 under 1 s).

Spark 4.3 runs the JVM `transformWithState` operator in real-time mode (SPARK-57228), and pixguard's
keyed-state features are JVM operators (src/jvm). So on 4.3 real-time mode serves, Kafka -> Kafka,
the part of the decision that needs state: parse, validate against the contract, the duplicate flag,
payer and payee features, and the rules that need no reference data. It does not serve the rest of
the decision: the DICT reference joins and the Delta sinks need Delta, which has no build for Spark
4.3, and the MLflow model runs as a Python UDF, which 4.3's real-time mode refuses too
(ArrowEvalPythonExec is not in its operator allowlist).
Every input record comes out once, decided, duplicate or quarantined, so the counts are checked.

The project stays on Spark 4.2, so this runs in an environment of its own, pinned by
bench/spark43.lock: `make bench-realtime-stateful` builds it, compiles the features jar against 4.3
and runs this script. Maven Central serves no spark-sql-kafka for 4.3; the bundle's 4.2.0 is used.

Run: make bench-realtime-stateful RATE=1000 DURATION_S=600 CHECKPOINT_INTERVAL="5 minutes"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from collections import Counter

import numpy as np
from realtime_common import epoch_ms, fresh_topics, read_sink, rules_that_compile, start_realtime_to_kafka

from pixguard.config import Bundle, load_bundle, load_streaming_config
from pixguard.contract import load_transaction_checks
from pixguard.features.behaviour import with_behaviour_features
from pixguard.features.calendar import with_calendar_features
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.spark import spark_conf
from pixguard.stream.validate import (
    QUARANTINE_REASONS,
    EventTimeBounds,
    parse_transactions,
    valid_transactions,
    with_quarantine_reasons,
)

DELTA_SETTINGS = ("spark.sql.extensions", "spark.sql.catalog.spark_catalog")


def spark43_conf(bundle: Bundle, features_jar: str) -> dict[str, str]:
    """The streaming job's Spark settings, less Delta, with the features jar built for Spark 4.3.
    The Kafka connector stays the bundle's (4.2.0): Maven Central serves none for 4.3."""
    conf = {k: v for k, v in spark_conf(bundle, "streaming").items() if k not in DELTA_SETTINGS}
    packages = conf["spark.jars.packages"].split(",")
    conf["spark.jars.packages"] = ",".join(p for p in packages if not p.startswith("io.delta:"))
    conf["spark.jars"] = features_jar
    # One partition per stateful stage: each stage's task holds a slot for the whole batch.
    conf["spark.sql.shuffle.partitions"] = "1"
    return conf


def percentiles(prefix: str, latency: np.ndarray) -> dict[str, float | None]:
    """None when nothing was measured (e.g. a run shorter than the warm-up)."""
    return {
        f"{prefix}p{q}_s": round(float(np.percentile(latency, q)), 3) if latency.size else None for q in (50, 95, 99)
    }


def print_timeline(output_ms: np.ndarray, latency: np.ndarray, step_s: int = 5) -> None:
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
    from pyspark.sql import functions as F

    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--checkpoint-interval", default="5 minutes")
    parser.add_argument("--drain-seconds", type=float, default=60, help="wait this long for the last outputs")
    parser.add_argument("--warmup-seconds", type=float, default=30, help="also report latency after this")
    parser.add_argument("--master", default="local[5]", help="real-time mode needs a task slot per stage partition")
    parser.add_argument("--features-jar", required=True, help="src/jvm compiled against Spark 4.3")
    args = parser.parse_args()
    bundle = load_bundle()
    config = load_streaming_config(bundle.project_root)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    suffix = uuid.uuid4().hex[:6]
    config, source, sink = fresh_topics(bundle, config, f"bench.rts.{{}}.{suffix}")

    builder = SparkSession.builder.appName("bench-realtime-stateful").master(args.master)
    for key, value in spark43_conf(bundle, args.features_jar).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    print(f"spark {spark.version}")
    kafka = bundle.target.kafka.spark_options()
    raw = spark.readStream.format("kafka").options(**kafka).option("subscribe", source.name).load()
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    # current_timestamp() holds one value per batch, and a real-time batch lasts the whole checkpoint
    # interval: payments late in it would look far in the future. The broker's arrival time is per record.
    checked = with_quarantine_reasons(
        parse_transactions(raw), load_transaction_checks(bundle.project_root), bounds, now=F.col("kafka_timestamp")
    )
    featured = with_calendar_features(
        with_behaviour_features(valid_transactions(checked), config.validation.watermark_delay_s)
    )
    rules = rules_that_compile(featured, bundle.project_root / "conf" / "rules.yaml")
    print(f"rules this path can run: {[rule.code for rule in rules.rules]}")
    # One output record per input record (decided, duplicate or quarantined): the counts reconcile.
    decided = rules.apply(featured).select(
        "end_to_end_id",
        "event_time",
        F.when(F.col("is_duplicate"), F.lit("duplicate")).otherwise(F.lit("decided")).alias("outcome"),
        "rule_hits",
        "rule_action",
    )
    # Real-time mode takes no union after a stateful operator: the quarantine is a query of its own.
    quarantined = checked.where(F.size(QUARANTINE_REASONS) > 0).select(
        F.col("raw_end_to_end_id").alias("end_to_end_id"),
        "event_time",
        F.lit("quarantined").alias("outcome"),
        QUARANTINE_REASONS,
    )
    queries = [
        start_realtime_to_kafka(records, bundle, sink.name, f"rts-{suffix}-{name}", args.checkpoint_interval)
        for name, records in (("decided", decided), ("quarantined", quarantined))
    ]
    seen: list[tuple[int, int]] = []  # (output broker time, event time) of decided payments
    outcomes: Counter[str] = Counter()

    def record_output(at_ms: int, record: dict) -> None:
        outcomes[record["outcome"]] += 1
        if record["outcome"] == "decided":
            seen.append((at_ms, epoch_ms(record["event_time"])))

    stop_reading = read_sink(bundle, sink.name, record_output)
    time.sleep(20)  # let the real-time batch start
    if failure := next((q.exception() for q in queries if q.exception()), None):
        raise failure
    simulator = load_simulator_config(bundle.project_root)
    live = run_live(bundle, config, simulator, args.rate, int(args.rate * args.seconds), seed=5, progress=False)
    deadline = time.monotonic() + args.drain_seconds
    while outcomes.total() < live.sent and time.monotonic() < deadline and all(q.isActive for q in queries):
        time.sleep(0.5)
    stop_reading()
    failure = next((q.exception() for q in queries if q.exception()), None)
    for query in queries:
        query.stop()
    if failure:
        raise failure
    if not seen:
        raise SystemExit(f"no payment came out of the path in time; outcomes: {dict(outcomes)}")
    output_ms = np.array([a for a, _ in seen])
    event_ms = np.array([b for _, b in seen])
    latency = (output_ms - event_ms) / 1000.0
    print_timeline(output_ms, latency)
    # The first seconds carry the queries' start (first batch planned, code warming up): a running
    # stream pays that once per restart, so the figures after it are given beside the whole run's.
    settled = latency[event_ms >= event_ms.min() + args.warmup_seconds * 1000]
    print(
        json.dumps(
            {
                "mode": f"realTime={args.checkpoint_interval}",
                "spark": spark.version,
                "master": args.master,
                "rate": args.rate,
                "published": live.sent,
                "outcomes": dict(outcomes),
                "unaccounted": live.sent - outcomes.total(),
                **percentiles("", latency),
                **percentiles(f"after_{args.warmup_seconds:g}s_", settled),
            }
        )
    )


if __name__ == "__main__":
    main()
