"""`pixguard model train | list | history | promote VERSION | rollback`: the data scientist's registry commands."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from pixguard.cli.common import AddCommand, Command, bundle_from
from pixguard.config import load_streaming_config


def _registry_command(handler: Command) -> Command:
    """A registry that does not answer is one clear line, not minutes of retries and a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from mlflow.exceptions import MlflowException

        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        try:
            return handler(args)
        except MlflowException as exc:
            print(f"model registry error ({bundle_from(args).target.mlflow.tracking_uri}): {exc}", file=sys.stderr)
            print("is the stack up? `pixguard status`", file=sys.stderr)
            return 1

    return run


def cmd_train(args: argparse.Namespace) -> int:
    from pixguard.model.retrain import retrain_entry

    argv = ["--no-promote"] if args.no_promote else []
    argv += ["--from-backtest", args.from_backtest] if args.from_backtest else []
    return retrain_entry([*argv, *(["--target", args.target] if args.target else [])])


@_registry_command
def cmd_list(args: argparse.Namespace) -> int:
    from pixguard.model.registry import list_versions

    bundle = bundle_from(args)
    name = bundle.target.mlflow.registered_model
    rows = list_versions(bundle.target.mlflow.tracking_uri, name)
    if not rows:
        print(f"{name}: no versions registered")
        return 0
    print(f"{'version':>7}  {'aliases':22} {'created (UTC)':17} {'AP':>6} {'AUC':>6} {'P@1%':>6} {'R@1%':>6}  status")
    for r in rows:
        m = r.metrics

        def fmt(key: str, m: dict[str, float] = m) -> str:
            return f"{m[key]:6.3f}" if key in m else f"{'-':>6}"

        print(
            f"{r.version:>7}  {','.join(r.aliases) or '-':22} {r.created:17} {fmt('average_precision')} "
            f"{fmt('roc_auc')} {fmt('precision_at_1pct')} {fmt('recall_at_1pct')}  {r.status}"
            + (f": {r.note}" if r.note else "")
        )
    return 0


@_registry_command
def cmd_history(args: argparse.Namespace) -> int:
    from pixguard.model.registry import alias_history, registry_client

    bundle = bundle_from(args)
    mlflow = bundle.target.mlflow
    for move in alias_history(registry_client(mlflow.tracking_uri), mlflow.registered_model):
        forced = " FORCED" if move.forced else ""
        print(
            f"{move.at}  {move.kind:8} {move.alias:10} {move.from_version or '-':>4} -> {move.version:<4}"
            f"{forced} by {move.by}: {move.reason}"
        )
    return 0


@_registry_command
def cmd_promote(args: argparse.Namespace) -> int:
    from pixguard.model.registry import RegistryError, promote
    from pixguard.model.settings import load_promotion_policy, load_training_settings

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    settings = load_training_settings(bundle.project_root)
    if args.force and not args.reason:
        print("--force needs --reason: an override is recorded with why it was made", file=sys.stderr)
        return 2
    try:
        result = promote(
            bundle.target.mlflow.tracking_uri,
            bundle.target.mlflow.registered_model,
            args.version,
            load_promotion_policy(bundle.project_root),
            config.scoring.review_threshold,
            settings.alert_budgets,
            force=args.force,
            reason=args.reason,
        )
    except RegistryError as exc:
        print(f"not promoted: {exc}", file=sys.stderr)
        return 1
    if result.promoted:
        print(f"version {args.version} is champion (was {result.move.from_version}): {result.move.reason}")
        return 0
    print(f"version {args.version} not promoted: {result.decision.reason}", file=sys.stderr)
    return 1


@_registry_command
def cmd_rollback(args: argparse.Namespace) -> int:
    from pixguard.model.registry import RegistryError, rollback

    bundle = bundle_from(args)
    try:
        move = rollback(bundle.target.mlflow.tracking_uri, bundle.target.mlflow.registered_model, args.reason)
    except RegistryError as exc:
        print(f"no rollback: {exc}", file=sys.stderr)
        return 1
    print(f"champion is version {move.version} again (was {move.from_version})")
    return 0


def register(sub: argparse._SubParsersAction, add: AddCommand) -> None:
    model = sub.add_parser("model", help="train, list, promote and roll back fraud model versions")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    p_train = add(
        "train", cmd_train, "retrain on decisions + fraud labels, register a challenger, apply the policy", model_sub
    )
    p_train.add_argument("--no-promote", action="store_true", help="register the challenger only")
    p_train.add_argument(
        "--from-backtest",
        default=None,
        metavar="NAME",
        help="train on backtest NAME (`pixguard backtest`): your own labelled history, same maturity and time split",
    )
    add("list", cmd_list, "versions, aliases and key metrics", model_sub)
    add("history", cmd_history, "every recorded alias move", model_sub)
    p_promote = add("promote", cmd_promote, "make VERSION champion if the promotion policy allows it", model_sub)
    p_promote.add_argument("version")
    p_promote.add_argument("--force", action="store_true", help="promote even if the policy refuses (recorded)")
    p_promote.add_argument("--reason", default=None, help="why (required with --force)")
    p_rollback = add("rollback", cmd_rollback, "champion back to the version it replaced", model_sub)
    p_rollback.add_argument("--reason", default="rollback", help="why (recorded with the move)")
