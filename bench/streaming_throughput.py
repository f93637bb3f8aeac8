"""Benchmark of the whole streaming job (issues 4, 23): throughput, decision latency, Kafka lag.

For each input rate, a fresh streaming job and archive job (jobs/streaming.py and jobs/archive.py
started as the bundle says, the archive at its OS priority; own topics, tables and checkpoints
under a temporary PIXGUARD_HOME, the running local Kafka and MLflow) score simulated traffic
published at that rate for --seconds. Latency is measured where a consumer sees it: the broker
timestamp of the decision on pix.decisions minus the payment's event time (`p*_s`), and minus the
payment's own broker timestamp on pix.transactions (`job_p*_s`: without the publisher's delays; the
bench's transactions topic is stamped on arrival, LogAppendTime). Lag
is the input topic's end offsets minus the decisions published, sampled every 5 s.

Run: .venv/bin/python bench/streaming_throughput.py --rates 1000,5000,10000 --seconds 120
(starts Kafka and MLflow if needed; the registry's champion scores if there is one, else the rules
alone: the result names the version). The job's home gets the key registry and DICT marks of the
simulated population first, which the hot path seeds its DICT state from, as the demo's has:
`--history-days` of history write them (1 by default, which makes next to no marks; 30, as the
demo, about 4,000).

`--persons` sizes the simulated population (default: conf/simulator.yaml's). Pix has about 170
million users for 3,600 payments a second; conf/simulator.yaml's 60,000 persons at 1,000 tx/s make
every payer pay about once a minute, so velocity features fire and many payments are REVIEWed and
explained: a larger population gives traffic closer to production's per-payer density.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml
from confluent_kafka import Consumer, TopicPartition

from pixguard.config import load_bundle, load_streaming_config
from pixguard.infra.kafka_topics import ensure_topics
from pixguard.jobs import start_job_process, stop_job_processes
from pixguard.simulator.runs import run_history, run_live
from pixguard.simulator.settings import load_simulator_config
from pixguard.stack.local import up
from pixguard.stream.hot_path import HOT_PATH_QUERY

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DecisionWatcher(threading.Thread):
    """Reads pix.transactions and pix.decisions from the start. Per decision: its broker timestamp, the
    payment's event time and the broker timestamp of the payment itself (when the job could first
    read it). The publisher shares the cores and falls behind at times (it generates its traffic a
    minute at a time), so decision time minus event time blames the job for the publisher's delay too;
    minus the payment's arrival in Kafka is the job's own latency."""

    def __init__(self, kafka_conf: dict, transactions: str, decisions: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {**kafka_conf, "group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
        self.transactions, self.decisions = transactions, decisions
        self.consumer.subscribe([transactions, decisions])
        self.arrived: dict[bytes, int] = {}  # end_to_end_id -> broker timestamp ms of the payment
        self.seen: list[tuple[int, int, bytes]] = []  # decision broker ms, event time ms, end_to_end_id
        self.payers: set[str] = set()
        self.stop = threading.Event()

    @staticmethod
    def _end_to_end_id(value: bytes) -> bytes:
        start = value.index(b'"', value.index(b":", value.index(b'"end_to_end_id"') + 15)) + 1
        return value[start : value.index(b'"', start)]

    def run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(5_000, 0.5):
                if message.error():
                    continue
                if message.topic() == self.transactions:
                    with contextlib.suppress(ValueError):  # no end_to_end_id: quarantined, never decided
                        self.arrived[self._end_to_end_id(message.value())] = message.timestamp()[1]
                    continue
                decision = json.loads(message.value())
                event_ms = int(pd.Timestamp(decision["event_time"]).value // 1_000_000)
                self.seen.append((message.timestamp()[1], event_ms, decision["end_to_end_id"].encode()))
                self.payers.add(decision["payer_document"])
        self.consumer.close()

    def job_latencies_s(self, first: int) -> np.ndarray:
        """Decision broker time minus the payment's broker time, for the decisions from `first` on."""
        pairs = [(decided, self.arrived.get(e2e)) for decided, _, e2e in self.seen[first:]]
        return np.array([(decided - arrived) / 1000.0 for decided, arrived in pairs if arrived is not None])


class ResourceSampler(threading.Thread):
    """Every 5 s: the job's JVM (local mode: driver and executors in one process), its heap in use
    (jstat: survivor, eden and old generation) and resident memory, and the hot path's keyed state as
    the job's Prometheus endpoint reports it (rows and RocksDB memory, all its operators)."""

    def __init__(self, job_pid: int, metrics_url: str) -> None:
        super().__init__(daemon=True)
        self.job_pid, self.metrics_url = job_pid, metrics_url
        self.heap_used_mb: list[float] = []
        self.heap_committed_mb: list[float] = []
        self.rss_mb: list[float] = []
        self.state_rows: list[float] = []
        self.state_memory_bytes: list[float] = []
        self.stop = threading.Event()

    def _jvm(self) -> psutil.Process | None:
        with contextlib.suppress(psutil.Error):
            return next((c for c in psutil.Process(self.job_pid).children(recursive=True) if c.name() == "java"), None)
        return None

    def _heap(self, pid: int) -> None:
        out = subprocess.run(["jstat", "-gc", str(pid)], capture_output=True, text=True, timeout=20).stdout.split()
        if len(out) < 2 or len(out) % 2:
            return
        gc = dict(zip(out[: len(out) // 2], (float(v) for v in out[len(out) // 2 :]), strict=True))
        self.heap_used_mb.append((gc["S0U"] + gc["S1U"] + gc["EU"] + gc["OU"]) / 1024)
        self.heap_committed_mb.append((gc["S0C"] + gc["S1C"] + gc["EC"] + gc["OC"]) / 1024)

    def _state(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
            for line in text.splitlines():
                if line.startswith('pixguard_query_state_rows{query="hot_path"}'):
                    self.state_rows.append(float(line.split()[-1]))
                elif line.startswith('pixguard_query_state_memory_bytes{query="hot_path"}'):
                    self.state_memory_bytes.append(float(line.split()[-1]))

    def run(self) -> None:
        while not self.stop.wait(5):
            jvm = self._jvm()
            if jvm is not None:
                with contextlib.suppress(psutil.Error, subprocess.SubprocessError, KeyError, ValueError):
                    self.rss_mb.append(jvm.memory_info().rss / 2**20)
                    self._heap(jvm.pid)
            self._state()

    def summary(self, payers: int, state_dir: Path) -> dict:
        def peak(values: list[float]) -> float | None:
            return round(max(values), 1) if values else None

        state_disk = sum(f.stat().st_size for f in state_dir.rglob("*") if f.is_file()) if state_dir.exists() else 0
        rows = self.state_rows[-1] if self.state_rows else None
        return {
            "jvm_heap_used_max_mb": peak(self.heap_used_mb),
            "jvm_heap_committed_max_mb": peak(self.heap_committed_mb),
            "jvm_rss_max_mb": peak(self.rss_mb),
            "payers": payers,
            "state_rows": rows,
            "state_memory_max_mb": round(max(self.state_memory_bytes) / 2**20, 1) if self.state_memory_bytes else None,
            # Every version the checkpoint keeps (snapshots and changelogs): an upper bound of the state's size.
            "state_checkpoint_mb": round(state_disk / 2**20, 1),
            "state_checkpoint_mb_per_million_payers": round(state_disk / 2**20 / payers * 1e6, 1) if payers else None,
        }


def stamp_on_arrival(kafka_conf: dict, topic: str) -> None:
    """The broker stamps each payment when it appends it (LogAppendTime). With the default CreateTime
    the stamp is the producer's hand-over, so time a payment spent queued in the publisher would
    count as the job's."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    entry = ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    admin = AdminClient(kafka_conf)  # kept alive until the change is acknowledged
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def end_offsets(kafka_conf: dict, topic: str) -> int:
    consumer = Consumer({**kafka_conf, "group.id": f"bench-offsets-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def seed_dict_tables(bundle, config, simulator, seed: int, days: int) -> dict:  # noqa: ANN001
    """The job decides with the DICT key registry and fraud marks of the payers and payees it sees, as
    in production: `days` of the live traffic's population history write them (not run through the job).
    Marks follow confirmed reports by days, so a one-day history has next to none."""
    from pyspark.sql import SparkSession

    run = run_history(bundle, config, simulator, days=days, seed=seed, backfill=False)
    print(f"DICT tables: {run.history.keys} keys, {run.history.marks} DICT marks", flush=True)
    SparkSession.getActiveSession().stop()  # the cores are the job's
    return {"history_days": days, "dict_keys": run.history.keys, "dict_marks": run.history.marks}


def print_timeline(decided_ms: np.ndarray, latency_s: np.ndarray, step_s: int = 10) -> None:
    """Latency by decision time, to stderr: shows whether the tail comes in periodic spikes (what
    else runs on the cores every so often) or all along."""
    window = (decided_ms - decided_ms.min()) // (step_s * 1000)
    for start in np.unique(window):
        part = latency_s[window == start]
        print(
            f"  t+{int(start) * step_s:4d}s {part.size:6d} decided  p50 {np.percentile(part, 50):6.2f} s"
            f"  p99 {np.percentile(part, 99):6.2f} s  max {part.max():6.2f} s",
            file=sys.stderr,
            flush=True,
        )


def champion_version(bundle) -> str | None:  # noqa: ANN001
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow = bundle.target.mlflow
    try:
        return MlflowClient(mlflow.tracking_uri).get_model_version_by_alias(mlflow.registered_model, "champion").version
    except MlflowException:
        return None


def run_rate(rate: int, seconds: float, workdir: Path, persons: int | None, history_days: int) -> dict:
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
    stamp_on_arrival(kafka_conf, config.topics.transactions.name)
    simulator = load_simulator_config(PROJECT_ROOT)
    if persons:
        population = simulator.population.model_copy(update={"persons": persons, "companies": persons // 10})
        simulator = simulator.model_copy(update={"population": population})
    reference = seed_dict_tables(bundle, config, simulator, seed=rate + 1, days=history_days)

    job, archive = (
        start_job_process(
            bundle, name, ["--config", str(config_file)], (workdir / f"{name}-{rate}.log").open("wb"), env
        )
        for name in ("streaming", "archive")
    )
    watcher = DecisionWatcher(kafka_conf, config.topics.transactions.name, config.topics.decisions.name)
    watcher.start()
    resources = ResourceSampler(job.pid, f"http://127.0.0.1:{config.monitoring.metrics_port}/metrics")
    resources.start()
    try:
        warmup = run_live(bundle, config, simulator, rate=200, count=200, seed=rate, progress=False)
        deadline = time.monotonic() + 300
        while len(watcher.seen) < warmup.sent and time.monotonic() < deadline:
            time.sleep(1)
        if len(watcher.seen) < warmup.sent:
            raise RuntimeError(f"the job did not start in time; see {workdir}/streaming-{rate}.log")
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
        stop_job_processes([job, archive])
        watcher.stop.set()
        watcher.join(10)
        resources.stop.set()
        resources.join(30)

    measured = np.array([(decided, event) for decided, event, _ in watcher.seen[base:]], dtype=np.int64)
    latency = (measured[:, 0] - measured[:, 1]) / 1000.0 if len(measured) else np.array([np.nan])
    if len(measured):
        print_timeline(measured[:, 0], latency)
    job_latency = watcher.job_latencies_s(base)
    if not len(job_latency):
        job_latency = np.array([np.nan])
    span = (measured[:, 0].max() - measured[:, 0].min()) / 1000.0 if len(measured) > 1 else np.nan
    lags = [lag for _, lag in lag_samples]
    third = max(len(lags) // 3, 1)
    return {
        "rate": rate,
        "champion": champion_version(bundle),
        "population": simulator.population.persons + simulator.population.companies,
        **reference,
        "published_rate": round(live.rate),
        "decided": len(measured),
        "published": live.sent,
        "processed_rate": round(len(measured) / span) if span == span and span else None,
        "p50_s": round(float(np.percentile(latency, 50)), 3),
        "p95_s": round(float(np.percentile(latency, 95)), 3),
        "p99_s": round(float(np.percentile(latency, 99)), 3),
        "max_s": round(float(latency.max()), 3),
        "job_matched": len(job_latency),
        "job_p50_s": round(float(np.percentile(job_latency, 50)), 3),
        "job_p95_s": round(float(np.percentile(job_latency, 95)), 3),
        "job_p99_s": round(float(np.percentile(job_latency, 99)), 3),
        "job_max_s": round(float(job_latency.max()), 3),
        # The last third of the decisions: past the start-up backlog (the first batch also compiles and
        # loads everything, and payments queue meanwhile), i.e. the steady state at this rate.
        "job_p50_last_third_s": round(float(np.percentile(job_latency[-len(job_latency) // 3 :], 50)), 3),
        "job_p99_last_third_s": round(float(np.percentile(job_latency[-len(job_latency) // 3 :], 99)), 3),
        "lag_first_third": int(np.mean(lags[:third])) if lags else None,
        "lag_last_third": int(np.mean(lags[-third:])) if lags else None,
        "drain_after_traffic_s": round(drain_s, 1),
        **resources.summary(len(watcher.payers), Path(bundle.target.checkpoint_path(HOT_PATH_QUERY)) / "state"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1000,5000,10000")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--persons", type=int, help="simulated persons (default: conf/simulator.yaml)")
    parser.add_argument(
        "--history-days", type=int, default=1, help="days of history that fill the DICT keys and marks tables"
    )
    parser.add_argument("--workdir", help="keep job logs, tables and checkpoints here (default: a temporary folder)")
    args = parser.parse_args()
    bundle = load_bundle(PROJECT_ROOT)
    up(bundle, load_streaming_config(PROJECT_ROOT), only=["kafka", "mlflow"])
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    with tempfile.TemporaryDirectory(prefix="pixguard-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for rate in (int(r) for r in args.rates.split(",")):
            result = run_rate(rate, args.seconds, workdir, args.persons, args.history_days)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
