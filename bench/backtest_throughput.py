"""Benchmark of `pixguard backtest` (issue 24): payments a second decided in batch by the stream's code.

Simulates `--payments` payments of conf/simulator.yaml's population (history days of 40,000), writes
them as a user's backtest file (Parquet with is_fraud, reported_at, fraud_type) with the DICT keys
and marks as of its end, then times `run_backtest` (read and stage, check, decide and write Delta)
with the registry's champion, and prints the report's headline figures.

Run: .venv/bin/python bench/backtest_throughput.py [--payments 1000000] ; results go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from pixguard.backtest.report import backtest_report, report_input
from pixguard.backtest.run import run_backtest
from pixguard.config import load_bundle, load_streaming_config
from pixguard.infra.spark import build_spark_session
from pixguard.simulator.backtest_file import write_backtest_file
from pixguard.simulator.history import dict_tables, simulate_history
from pixguard.simulator.settings import load_simulator_config
from pixguard.stack.local import up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--name", default="bench")
    args = parser.parse_args()
    bundle = load_bundle()
    config = load_streaming_config(bundle.project_root)
    simulator = load_simulator_config(bundle.project_root)
    up(bundle, config, only=["mlflow"])
    days = args.payments / simulator.history.transactions_per_day
    end = pd.Timestamp.now(tz="UTC").floor("min")
    began = time.monotonic()
    traffic, population = simulate_history(simulator, days, seed=24, end=end)
    keys, marks = dict_tables(traffic, population, end)
    folder = Path(tempfile.mkdtemp(prefix="pixguard-backtest-bench-"))
    file = write_backtest_file(traffic.transactions, traffic.labels, folder / "payments.parquet")
    keys[["key", "key_type", "owner_document", "created_at"]].to_parquet(folder / "keys.parquet")
    marks.to_parquet(folder / "marks.parquet")
    print(f"simulated {len(traffic.transactions):,} payments over {days:.1f} days in {time.monotonic() - began:.0f} s")

    spark = build_spark_session(bundle, "streaming", app_name="pixguard-backtest-bench")
    load = os.getloadavg()
    summary = run_backtest(
        spark,
        bundle,
        config,
        file,
        args.name,
        dict_keys=folder / "keys.parquet",
        dict_marks=folder / "marks.parquet",
    )
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average at start {load}, {time.strftime('%c')}")
    print(summary.text())
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.phases.items()))
    report = backtest_report(report_input(spark, bundle, args.name), args.name)
    print(report.ranking.to_string(index=False))
    print(report.at_budgets.to_string(index=False))
    print(report.decisions.to_string(index=False))
    print(report.rules.to_string(index=False))
    print(report.by_type.to_string(index=False))
    spark.stop()


if __name__ == "__main__":
    main()
