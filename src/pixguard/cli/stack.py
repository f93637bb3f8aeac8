"""`pixguard bundle validate|connection`, `up`, `down`, `status`, `smoke`: the local stack and the bundle."""

from __future__ import annotations

import argparse
import sys

import yaml

from pixguard.cli.common import AddCommand, bundle_from
from pixguard.config import load_streaming_config

_bundle = bundle_from


def cmd_bundle_validate(args: argparse.Namespace) -> int:
    bundle = _bundle(args)
    config = load_streaming_config(bundle.project_root)
    # Secrets are excluded from the dump (they are marked repr=False in the models).
    resolved = {
        "bundle": bundle.name,
        "project_root": str(bundle.project_root),
        "state_dir": str(bundle.state_dir),
        "target": bundle.target.model_dump(
            mode="json", exclude={"kafka": {"sasl_password"}, "airflow": {"admin_password"}}
        ),
        "jobs": {name: job.model_dump(mode="json") for name, job in bundle.jobs.items()},
        "streaming_config": config.model_dump(mode="json"),
    }
    print(yaml.safe_dump(resolved, sort_keys=False), end="")
    print(f"OK: bundle '{bundle.name}', target '{bundle.target.name}' is valid", file=sys.stderr)
    return 0


def cmd_bundle_connection(args: argparse.Namespace) -> int:
    """The Spark connection the DAGs submit through, for an Airflow that pixguard does not start
    (the cluster target's): without it the Spark provider falls back to master `yarn` silently."""
    from pixguard.stack.airflow_server import spark_connection

    bundle = _bundle(args)
    print(f"AIRFLOW_CONN_{bundle.target.airflow.spark_conn_id.upper()}='{spark_connection(bundle)}'")
    return 0


def cmd_bundle_jars(args: argparse.Namespace) -> int:
    """Resolve the target's spark.jars.packages into the cache (once; instant afterwards)."""
    from pixguard.infra.spark import spark_conf

    bundle = _bundle(args)
    for job in bundle.jobs:
        jars = spark_conf(bundle, job)["spark.jars"].split(",")
        print(f"{job}: {len(jars)} jars on spark.jars")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from pixguard.stack.local import UnknownService, up

    bundle = _bundle(args)
    only = [part.strip() for part in args.only.split(",")] if args.only is not None else None
    try:
        statuses = up(bundle, load_streaming_config(bundle.project_root), only)
    except UnknownService as exc:
        print(f"pixguard up: {exc}", file=sys.stderr)
        return 2
    _print_status(statuses)
    if bundle.target.airflow.embedded and (only is None or "airflow" in only):
        airflow = bundle.target.airflow
        print(f"Airflow login: {airflow.admin_user} / {airflow.admin_password}")
    print(f"State and logs: {bundle.state_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from pixguard.stack.local import down

    bundle = _bundle(args)
    stopped = down(bundle, purge=args.purge)
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if args.purge:
        print(f"removed {bundle.state_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pixguard.cli.monitor import print_job_view
    from pixguard.stack.local import status

    bundle = _bundle(args)
    statuses = status(bundle)
    _print_status(statuses)
    print_job_view(load_streaming_config(bundle.project_root))  # the job is not a service: no effect on the exit code
    return 0 if all(s.ready for s in statuses) else 3


def _print_status(statuses: list) -> None:
    for s in statuses:
        state = "ready" if s.ready else ("starting/unhealthy" if s.running else "stopped")
        pid = f"pid {s.pid}" if s.pid else ""
        print(f"{s.name:8} {state:18} {s.url:28} {pid:10} log: {s.log}")


def cmd_smoke(args: argparse.Namespace) -> int:
    from pixguard.stack.smoke import run_smoke

    bundle = _bundle(args)
    result = run_smoke(bundle, load_streaming_config(bundle.project_root), args.count)
    print(result.summary())
    return 0 if result.ok else 1


def register(sub: argparse._SubParsersAction, add: AddCommand) -> None:
    bundle = sub.add_parser("bundle", help="bundle.yaml tools")
    bundle_sub = bundle.add_subparsers(dest="bundle_command", required=True)
    add(
        "validate",
        cmd_bundle_validate,
        "validate bundle.yaml and conf/ and print the resolved configuration",
        bundle_sub,
    )
    add(
        "jars",
        cmd_bundle_jars,
        "resolve the target's Spark packages from Maven Central into the cache (make install runs it)",
        bundle_sub,
    )
    add(
        "connection",
        cmd_bundle_connection,
        "print the target's Spark connection as an Airflow environment variable (for an Airflow pixguard does not run)",
        bundle_sub,
    )

    p_up = add("up", cmd_up, "start the embedded services of the target (Kafka, MLflow, Airflow); idempotent")
    p_up.add_argument("--only", default=None, help="comma-separated subset: kafka,mlflow,airflow")
    p_down = add("down", cmd_down, "stop every process pixguard started")
    p_down.add_argument("--purge", action="store_true", help="also remove the local state folder")
    add("status", cmd_status, "which parts of the stack are up")
    p_smoke = add("smoke", cmd_smoke, "publish sample messages and land them in Delta through Spark")
    p_smoke.add_argument("--count", type=int, default=1000)
