"""Benchmark of the whole streaming job (issue 4): throughput, decision latency, Kafka lag.

For each input rate, a fresh streaming job (jobs/streaming.py, own topics, tables and checkpoints
under a temporary PIXGUARD_HOME, the running local Kafka and MLflow) scores simulated traffic
published at that rate for --seconds. Latency is measured where a consumer sees it: the broker
timestamp of the decision on pix.decisions minus the payment's event time. Lag is the input
topic's end offsets minus the decisions published, sampled every 5 s.

Run: .venv/bin/python bench/streaming_throughput.py --rates 1000,5000,10000 --seconds 120
(needs `pixguard up`; a champion model is used if one is registered, else rules only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from confluent_kafka import Consumer, TopicPartition

from pixguard.config import load_bundle, load_streaming_config
from pixguard.kafka_topics import ensure_topics
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.stack.local import up

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DecisionWatcher(threading.Thread):
    """Reads pix.decisions from the start: (broker timestamp ms, event time ms) per decision."""

    def __init__(self, kafka_conf: dict, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {**kafka_conf, "group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
        self.consumer.subscribe([topic])
        self.seen: list[tuple[int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(5_000, 0.5):
                if message.error():
                    continue
                event_time = json.loads(message.value())["event_time"]
                event_ms = int(pd.Timestamp(event_time).value // 1_000_000)
                self.seen.append((message.timestamp()[1], event_ms))
        self.consumer.close()


def end_offsets(kafka_conf: dict, topic: str) -> int:
    consumer = Consumer({**kafka_conf, "group.id": f"bench-offsets-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def run_rate(rate: int, seconds: float, workdir: Path) -> dict:
    suffix = f"bench{rate}-{uuid.uuid4().hex[:6]}"
    raw = yaml.safe_load((PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text())
    for topic in raw["topics"].values():
        topic["name"] = f"{topic['name']}.{suffix}"
    raw.setdefault("rules", {})["path"] = str(PROJECT_ROOT / "conf" / "rules.yaml")
    config_file = workdir / f"streaming-{rate}.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PIXGUARD_HOME": str(workdir / f"home-{rate}")}
    os.environ["PIXGUARD_HOME"] = env["PIXGUARD_HOME"]
    bundle = load_bundle(PROJECT_ROOT)
    config = load_streaming_config(PROJECT_ROOT, config_file)
    ensure_topics(bundle.target.kafka, config.topics.all())
    kafka_conf = bundle.target.kafka.client_config()
    simulator = load_simulator_config(PROJECT_ROOT)

    log = (workdir / f"job-{rate}.log").open("wb")
    job = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "streaming.py"), "--config", str(config_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    watcher = DecisionWatcher(kafka_conf, config.topics.decisions.name)
    watcher.start()
    try:
        warmup = run_live(bundle, config, simulator, rate=200, count=200, seed=rate, progress=False)
        deadline = time.monotonic() + 300
        while len(watcher.seen) < warmup.sent and time.monotonic() < deadline:
            time.sleep(1)
        if len(watcher.seen) < warmup.sent:
            raise RuntimeError(f"the job did not start in time; see {log.name}")
        base = len(watcher.seen)
        lag_samples: list[tuple[float, int]] = []
        sampling = threading.Event()

        def sample() -> None:
            started = time.monotonic()
            while not sampling.is_set():
                lag_samples.append(
                    (
                        time.monotonic() - started,
                        end_offsets(kafka_conf, config.topics.transactions.name) - len(watcher.seen),
                    )
                )
                sampling.wait(5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        live = run_live(bundle, config, simulator, rate=rate, count=int(rate * seconds), seed=rate + 1, progress=False)
        drain_started = time.monotonic()
        target = base + live.sent
        while len(watcher.seen) < target and time.monotonic() - drain_started < 180:
            time.sleep(0.5)
        drain_s = time.monotonic() - drain_started
        sampling.set()
        sampler.join()
    finally:
        job.terminate()
        try:
            job.wait(60)
        except subprocess.TimeoutExpired:
            job.kill()
        watcher.stop.set()
        watcher.join(10)

    measured = np.array(watcher.seen[base:], dtype=np.int64)
    latency = (measured[:, 0] - measured[:, 1]) / 1000.0 if len(measured) else np.array([np.nan])
    span = (measured[:, 0].max() - measured[:, 0].min()) / 1000.0 if len(measured) > 1 else np.nan
    lags = [lag for _, lag in lag_samples]
    third = max(len(lags) // 3, 1)
    return {
        "rate": rate,
        "published_rate": round(live.rate),
        "decided": len(measured),
        "published": live.sent,
        "processed_rate": round(len(measured) / span) if span == span and span else None,
        "p50_s": round(float(np.percentile(latency, 50)), 3),
        "p95_s": round(float(np.percentile(latency, 95)), 3),
        "p99_s": round(float(np.percentile(latency, 99)), 3),
        "lag_first_third": int(np.mean(lags[:third])) if lags else None,
        "lag_last_third": int(np.mean(lags[-third:])) if lags else None,
        "drain_after_traffic_s": round(drain_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1000,5000,10000")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workdir", help="keep job logs, tables and checkpoints here (default: a temporary folder)")
    args = parser.parse_args()
    bundle = load_bundle(PROJECT_ROOT)
    up(bundle, load_streaming_config(PROJECT_ROOT), only=["kafka", "mlflow"])
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    with tempfile.TemporaryDirectory(prefix="pixguard-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for rate in (int(r) for r in args.rates.split(",")):
            result = run_rate(rate, args.seconds, workdir)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
