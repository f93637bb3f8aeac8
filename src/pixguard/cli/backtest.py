"""`pixguard backtest FILE --name NAME`: decide a labelled file in batch with the stream's own code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixguard.cli.common import AddCommand, bundle_from
from pixguard.config import load_streaming_config


def cmd_backtest(args: argparse.Namespace) -> int:
    from pixguard.backtest.run import run_backtest
    from pixguard.infra.datasets import DatasetError
    from pixguard.infra.spark import build_spark_session
    from pixguard.stream.batch import ModelNotServable

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    spark = build_spark_session(bundle, "streaming", app_name=f"{bundle.name}-backtest-{args.name}")
    try:
        summary = run_backtest(
            spark,
            bundle,
            config,
            Path(args.file),
            args.name,
            model_version=args.model_version,
            dict_keys=Path(args.dict_keys) if args.dict_keys else None,
            dict_marks=Path(args.dict_marks) if args.dict_marks else None,
            progress=not args.quiet,
        )
    except (DatasetError, ModelNotServable, ValueError) as exc:
        print(f"backtest refused: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(summary.text())
    print(f"report: pixguard report --backtest {args.name}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction, add: AddCommand) -> None:
    p = add(
        "backtest",
        cmd_backtest,
        "decide a labelled file (Parquet, CSV, JSON Lines) in batch with the stream's code, into Delta backtest_NAME",
    )
    p.add_argument("file", help="payments in the message schema; optional columns is_fraud, reported_at, fraud_type")
    p.add_argument("--name", required=True, help="the backtest's name: tables backtest_NAME and backtest_NAME_labels")
    p.add_argument("--model-version", default=None, help="decide with this registered version (default: the champion)")
    p.add_argument(
        "--dict-keys", default=None, help="DICT keys in force (columns key, key_type, owner_document, created_at)"
    )
    p.add_argument("--dict-marks", default=None, help="DICT marks (columns marked_value, mark_type, marked_at)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
