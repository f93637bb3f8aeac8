"""`pixguard simulate` (live traffic or history) and `pixguard replay FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixguard.cli.common import AddCommand, bundle_from
from pixguard.config import load_streaming_config


def cmd_simulate(args: argparse.Namespace) -> int:
    from pixguard.simulator.runs import default_seed, run_history, run_live
    from pixguard.simulator.settings import load_simulator_config

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    simulator = load_simulator_config(bundle.project_root, Path(args.config) if args.config else None)
    seed = args.seed if args.seed is not None else default_seed()
    print(f"seed {seed} (pass --seed {seed} to get the same data again)", file=sys.stderr)
    if args.history is not None:
        print(run_history(bundle, config, simulator, args.history, seed, backfill=not args.no_backfill).text())
        return 0
    count = args.count if args.count is not None else int(round(args.rate * args.duration))
    summary = run_live(bundle, config, simulator, args.rate, count, seed, args.label_time_scale, not args.quiet)
    print(summary.text())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pixguard.infra.datasets import DatasetError
    from pixguard.infra.spark import build_spark_session
    from pixguard.simulator.replay import replay

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    spark = build_spark_session(bundle, "streaming", app_name="pixguard-replay")
    try:
        summary = replay(
            spark, bundle, config, Path(args.file), None if args.original_pace else args.rate, args.keep_time
        )
    except DatasetError as exc:
        print(f"replay refused: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0


def register(sub: argparse._SubParsersAction, add: AddCommand) -> None:
    p = add("simulate", cmd_simulate, "publish simulated Pix traffic to Kafka, or write simulated history to Delta")
    p.add_argument("--rate", type=float, default=1_000.0, help="transactions per second (default 1000)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    p.add_argument("--count", type=int, default=None, help="number of transactions (instead of --duration)")
    p.add_argument("--seed", type=int, default=None, help="same seed, same data (default: from the clock)")
    p.add_argument("--history", type=float, default=None, metavar="DAYS", help="write DAYS of history to Delta")
    p.add_argument("--no-backfill", action="store_true", help="with --history: skip filling `decisions`")
    p.add_argument(
        "--label-time-scale",
        type=float,
        default=1.0,
        help="divide fraud-report delays by this in live runs (86400: a day of delay becomes a second)",
    )
    p.add_argument("--config", default=None, help="simulator settings (default conf/simulator.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    r = add("replay", cmd_replay, "publish a dataset (Parquet, CSV, JSON Lines) to Kafka after checking it")
    r.add_argument("file")
    pace = r.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=1_000.0, help="transactions per second (default 1000)")
    pace.add_argument("--original-pace", action="store_true", help="keep the gaps between the event times")
    r.add_argument("--keep-time", action="store_true", help="send the original event times (default: shift to now)")
