"""Benchmark: what Spark 4.2's real-time mode (`trigger(realTime=...)`) can serve in pixguard, and
the latency it gives (issue 4).

Real-time mode takes a Kafka source and a Kafka sink, update mode, no foreachBatch, no Python
operators and (in 4.2) no state. So it cannot run the decision query (transformWithState features,
Python model scoring, Delta sink). What it can serve is a stateless fast path Kafka -> Kafka: parse,
validate shape, Brasília calendar, and those rules of conf/rules.yaml that need no state or
reference data. This script builds that path from the project's own functions, keeps the rules that
compile on it, publishes simulated traffic at --rate and measures output broker time minus event time.
Spark 4.3 also serves the keyed-state features in real-time mode: bench/realtime_stateful.py.

Run: .venv/bin/python bench/realtime_fast_path.py --rate 1000 --seconds 60   (needs `pixguard up --only kafka`)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid

import numpy as np
from realtime_common import epoch_ms, fresh_topics, read_sink, rules_that_compile, start_realtime_to_kafka

from pixguard.config import load_bundle, load_streaming_config
from pixguard.features.reference import with_calendar_features
from pixguard.schema import transaction_schema
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.spark import build_spark_session
from pixguard.stack.local import up


def main() -> None:
    from pyspark.sql import functions as F

    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--checkpoint-interval", default="5 seconds")
    args = parser.parse_args()
    bundle = load_bundle()
    config = load_streaming_config(bundle.project_root)
    up(bundle, config, only=["kafka"])
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    suffix = uuid.uuid4().hex[:6]
    config, source, sink = fresh_topics(bundle, config, f"bench.rt.{{}}.{suffix}")

    spark = build_spark_session(bundle, "streaming", app_name="bench-realtime")
    kafka = bundle.target.kafka.spark_options()
    raw = spark.readStream.format("kafka").options(**kafka).option("subscribe", source.name).load()
    parsed = raw.select(F.from_json(F.col("value").cast("string"), transaction_schema()).alias("t")).select("t.*")
    enriched = with_calendar_features(parsed)
    rules = rules_that_compile(enriched, bundle.project_root / "conf" / "rules.yaml")
    print(f"rules the fast path can run: {[rule.code for rule in rules.rules]}")
    out = rules.apply(enriched).select("end_to_end_id", "event_time", "rule_hits", "rule_action")
    query = start_realtime_to_kafka(out, bundle, sink.name, f"rt-{suffix}", args.checkpoint_interval)
    seen: list[tuple[int, int]] = []  # (output broker time, event time)
    stop_reading = read_sink(bundle, sink.name, lambda at, record: seen.append((at, epoch_ms(record["event_time"]))))
    time.sleep(15)  # let the real-time batch start
    simulator = load_simulator_config(bundle.project_root)
    live = run_live(bundle, config, simulator, args.rate, int(args.rate * args.seconds), seed=5, progress=False)
    deadline = time.monotonic() + 60
    while len(seen) < live.sent and time.monotonic() < deadline:
        time.sleep(0.5)
    stop_reading()
    query.stop()
    latency = (np.array([a for a, _ in seen]) - np.array([b for _, b in seen])) / 1000.0
    print(
        json.dumps(
            {
                "mode": f"realTime={args.checkpoint_interval}",
                "rate": args.rate,
                "published": live.sent,
                "received": len(seen),
                "p50_s": round(float(np.percentile(latency, 50)), 3),
                "p95_s": round(float(np.percentile(latency, 95)), 3),
                "p99_s": round(float(np.percentile(latency, 99)), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
