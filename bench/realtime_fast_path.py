"""Benchmark: what Spark 4.2's real-time mode (`trigger(realTime=...)`) can serve in pixguard, and
the latency it gives (issue 4).

Real-time mode takes a Kafka source and a Kafka sink, update mode, no foreachBatch, no Python
operators and (in 4.2) no state. So it cannot run the decision query (transformWithState features,
Python model scoring, Delta sink). What it can serve is a stateless fast path Kafka -> Kafka: parse,
validate shape, Brasília calendar, and those rules of conf/rules.yaml that need no state or
reference data. This script builds that path from the project's own functions, keeps the rules that
compile on it, publishes simulated traffic at --rate and measures output broker time minus event time.

Run: .venv/bin/python bench/realtime_fast_path.py --rate 1000 --seconds 60   (needs `pixguard up --only kafka`)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from confluent_kafka import Consumer

from pixguard.config import TopicSettings, load_bundle, load_streaming_config
from pixguard.features.reference import with_calendar_features
from pixguard.kafka_topics import ensure_topics
from pixguard.schema import transaction_schema
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.spark import build_spark_session
from pixguard.stack.local import up


def stateless_rules(df, rules_file: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """(code, expression) of the rules that compile on the stateless fast path."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    kept = []
    for rule in yaml.safe_load(Path(rules_file).read_text(encoding="utf-8"))["rules"]:
        try:
            df.select(F.expr(rule["when"])).schema  # noqa: B018 - analysis only
            kept.append((rule["code"], rule["when"]))
        except AnalysisException:
            pass
    return kept


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
    source = TopicSettings(name=f"bench.rt.in.{suffix}", partitions=1)
    sink = TopicSettings(name=f"bench.rt.out.{suffix}", partitions=1)
    ensure_topics(bundle.target.kafka, [source, sink])
    config = config.model_copy(update={"topics": config.topics.model_copy(update={"transactions": source})})

    spark = build_spark_session(bundle, "streaming", app_name="bench-realtime")
    kafka = bundle.target.kafka.spark_options()
    raw = spark.readStream.format("kafka").options(**kafka).option("subscribe", source.name).load()
    parsed = raw.select(F.from_json(F.col("value").cast("string"), transaction_schema()).alias("t")).select("t.*")
    enriched = with_calendar_features(parsed)
    rules = stateless_rules(enriched, str(bundle.project_root / "conf" / "rules.yaml"))
    print(f"rules the fast path can run: {[code for code, _ in rules]}")
    hits = F.filter(F.array(*[F.when(F.expr(when), F.lit(code)) for code, when in rules]), lambda c: c.isNotNull())
    out = enriched.select(
        F.col("end_to_end_id").alias("key"),
        F.to_json(F.struct("end_to_end_id", "event_time", hits.alias("rule_hits"))).alias("value"),
    )
    query = (
        out.writeStream.format("kafka")
        .options(**kafka)
        .option("topic", sink.name)
        .option("checkpointLocation", str(bundle.state_dir / "bench" / f"rt-{suffix}"))
        .outputMode("update")
        .trigger(realTime=args.checkpoint_interval)
        .start()
    )
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def consume() -> None:
        consumer = Consumer(
            {**bundle.target.kafka.client_config(), "group.id": f"rt-{suffix}", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([sink.name])
        while not stop.is_set():
            for message in consumer.consume(5_000, 0.5):
                if not message.error():
                    event = json.loads(message.value())["event_time"]
                    seen.append((message.timestamp()[1], int(pd.Timestamp(event).value // 1_000_000)))
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    time.sleep(15)  # let the real-time batch start
    simulator = load_simulator_config(bundle.project_root)
    live = run_live(bundle, config, simulator, args.rate, int(args.rate * args.seconds), seed=5, progress=False)
    deadline = time.monotonic() + 60
    while len(seen) < live.sent and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    reader.join(10)
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
