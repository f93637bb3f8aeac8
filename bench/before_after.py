"""Benchmark: the job before the hot path against the job now, on the same traffic in the same run (issue 23).

"Before" is the last commit of the foreachBatch design (BEFORE_COMMIT: one decision query building
each micro-batch from Python, the model in a Python UDF, Delta written in the batch). It is checked
out as a git worktree under .pixguard/before/, its feature jar compiled with this checkout's pyspark,
and its own bench/streaming_throughput.py run with its own code (PYTHONPATH). "After" is this
checkout's bench/streaming_throughput.py. Both run one after the other against the same broker and
MLflow server, with the same champion, rate, duration, population and seeds; the traffic is the same
code in both commits and its publisher (src/pixguard/simulator/live.py) is this checkout's on both
sides, so the only difference is the job.

Run: .venv/bin/python bench/before_after.py --rate 1000 --seconds 600
(starts Kafka and MLflow if needed; with no champion yet, writes the demo's history and trains one,
as `make demo` does). Each side prints its JSON line; the last line gives the ratios."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from pixguard.config import load_bundle, load_streaming_config
from pixguard.stack.local import up

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The last commit whose streaming job decided in one foreachBatch query (before e1047e3, the hot path).
BEFORE_COMMIT = "6ced22f866756a72f0b3ec2305c4afe2b85fefcb"


# The live traffic's publisher: how punctually payments are sent is the bench's, not the job's.
PUBLISHER = Path("src/pixguard/simulator/live.py")


def before_checkout(commit: str) -> Path:
    """A worktree of `commit` with this checkout's publisher and its feature jar, built by its own
    Makefile rule with this venv's pyspark (the lock did not change between the two commits)."""
    tree = PROJECT_ROOT / ".pixguard" / "before" / commit[:7]
    if not (tree / "bundle.yaml").exists():
        subprocess.run(["git", "-C", str(PROJECT_ROOT), "worktree", "add", "--detach", str(tree), commit], check=True)
    (tree / PUBLISHER).write_text((PROJECT_ROOT / PUBLISHER).read_text())
    venv = Path(sys.prefix)
    subprocess.run(
        ["make", "-C", str(tree), "-o", f"{venv}/.installed", f"VENV={venv}", "build/pixguard-features.jar"],
        check=True,
    )
    return tree


def run_side(tree: Path, rate: int, seconds: float, persons: int | None, history_days: int, env: dict) -> dict:
    command = [
        sys.executable,
        str(tree / "bench" / "streaming_throughput.py"),
        f"--rates={rate}",
        f"--seconds={seconds}",
        f"--history-days={history_days}",
    ]
    if persons:
        command.append(f"--persons={persons}")
    print(f"$ {' '.join(command)}", flush=True)
    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    print(out, flush=True)
    return json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))


def ensure_champion() -> None:
    from mlflow import MlflowClient

    from pixguard.cli.demo import history_and_first_model
    from pixguard.model.registry import CHAMPION, alias_version

    bundle = load_bundle(PROJECT_ROOT)
    mlflow = bundle.target.mlflow
    if alias_version(MlflowClient(mlflow.tracking_uri), mlflow.registered_model, CHAMPION) is None:
        history_and_first_model(bundle, load_streaming_config(PROJECT_ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--persons", type=int)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--before-commit", default=BEFORE_COMMIT)
    args = parser.parse_args()
    bundle = load_bundle(PROJECT_ROOT)
    up(bundle, load_streaming_config(PROJECT_ROOT), only=["kafka", "mlflow"])
    ensure_champion()
    tree = before_checkout(args.before_commit)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    # The before side finds the running services through this checkout's state folder, and its jars in its cache.
    shared = {"PIXGUARD_HOME": str(bundle.state_dir), "PIXGUARD_CACHE": str(bundle.cache_dir)}
    before_env = {**os.environ, **shared, "PYTHONPATH": str(tree / "src"), "PIXGUARD_PROJECT_ROOT": str(tree)}
    after_env = {**os.environ, **shared, "PIXGUARD_PROJECT_ROOT": str(PROJECT_ROOT)}
    before = run_side(tree, args.rate, args.seconds, args.persons, args.history_days, before_env)
    after = run_side(PROJECT_ROOT, args.rate, args.seconds, args.persons, args.history_days, after_env)

    def ratio(key: str, invert: bool = False) -> float | None:
        a, b = after.get(key), before.get(key)
        if not a or not b:
            return None
        return round(b / a if invert else a / b, 1)

    print(
        json.dumps(
            {
                "before_commit": args.before_commit[:7],
                "rate": args.rate,
                "seconds": args.seconds,
                "throughput_after_over_before": ratio("processed_rate"),
                "p99_before_over_after": ratio("p99_s", invert=True),
                "job_p99_before_over_after": ratio("job_p99_s", invert=True),
                "finished": time.ctime(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
