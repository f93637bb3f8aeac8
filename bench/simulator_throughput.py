"""Benchmark: is the simulator ever the bottleneck? (issue 3)

1. Live publishing to the local broker (`pixguard up --only kafka` is started if needed): the
   highest rate the generator + producer sustain, asked for far more than it can do.
2. History: 1 million transactions generated (population, traffic, scenarios, reports, marks),
   and written to Delta (transactions_truth, fraud_labels, key_registry, dict_marks).

Run: .venv/bin/python bench/simulator_throughput.py [--count 1000000] ; results go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import pandas as pd

from pixguard.config import load_bundle, load_streaming_config
from pixguard.simulator.history import simulate_history, write_history
from pixguard.simulator.runs import run_live
from pixguard.simulator.settings import HistorySettings, load_simulator_config
from pixguard.stack.local import up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000, help="live messages to publish")
    parser.add_argument("--history", type=int, default=1_000_000, help="history transactions (0: skip)")
    args = parser.parse_args()
    bundle = load_bundle()
    config = load_streaming_config(bundle.project_root)
    simulator = load_simulator_config(bundle.project_root)
    print(f"machine: {platform.node()} {os.cpu_count()} cores, load average {os.getloadavg()}")

    up(bundle, config, only=["kafka"])
    live = run_live(bundle, config, simulator, rate=1_000_000, count=args.count, seed=1, progress=False)
    print(f"live: {live.text()}")
    if args.history == 0:
        return

    days = 30
    per_day = simulator.model_copy(update={"history": HistorySettings(transactions_per_day=args.history // days)})
    began = time.monotonic()
    traffic, _ = simulate_history(per_day, days, seed=1, end=pd.Timestamp.now(tz="UTC").floor("min"))
    generated = time.monotonic() - began
    print(f"history generation: {len(traffic.transactions):,} transactions in {generated:.1f} s")

    from pixguard.infra.spark import build_spark_session

    spark = build_spark_session(bundle, "streaming", app_name="bench-history")
    summary = write_history(spark, bundle, config, per_day, days, seed=1)
    print(f"history generation + Delta writes: {summary.text()}")


if __name__ == "__main__":
    main()
