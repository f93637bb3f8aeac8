"""Entry functions of the Spark jobs (jobs/*.py call these): parse arguments, build the typed
settings and the session once, hand over to the application code."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import IO

from pixguard.config import Bundle, StreamingConfig, load_bundle, load_streaming_config
from pixguard.infra.spark import build_spark_session
from pixguard.log_setup import configure_logging

log = logging.getLogger("pixguard.jobs")


def _job_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--target", default=None, help="bundle target (default: PIXGUARD_TARGET, else the bundle's default)"
    )
    parser.add_argument("--available-now", action="store_true", help="process what is in Kafka, then stop")
    parser.add_argument("--config", default=None, help="streaming config file (default: conf/streaming_config.yaml)")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace, bundle) -> StreamingConfig:  # noqa: ANN001
    return load_streaming_config(bundle.project_root, path=Path(args.config) if args.config else None)


def run_smoke_ingest_job(argv: list[str] | None = None) -> int:
    from pixguard.stream.ingest import start_smoke_ingest

    args = _job_args("Land the smoke topic in its Delta table (the connectors' check)", argv)
    bundle = load_bundle(target=args.target)
    config = _config(args, bundle)
    spark = build_spark_session(bundle, "smoke")
    query = start_smoke_ingest(spark, bundle, config, available_now=args.available_now)
    query.awaitTermination()
    progress = query.lastProgress or {}
    log.info("smoke ingest finished: %s rows in the last batch", progress.get("numInputRows", 0))
    return 0


def run_streaming_job_entry(argv: list[str] | None = None) -> int:
    from pixguard.stream.job import STREAMING_JOB, run_streaming_job

    args = _job_args("Decide Pix transactions from Kafka continuously (the hot path)", argv)
    return _run_until_stopped(args, STREAMING_JOB, run_streaming_job)


def run_archive_job_entry(argv: list[str] | None = None) -> int:
    from pixguard.stream.job import ARCHIVE_JOB, run_archive_job

    args = _job_args("Archive the decisions and the topics they come from in Delta", argv)
    return _run_until_stopped(args, ARCHIVE_JOB, run_archive_job)


def _run_until_stopped(args: argparse.Namespace, job: str, run) -> int:  # noqa: ANN001
    """Run a streaming application until its queries end or SIGTERM stops them."""
    from pixguard.stream.job import stop_on_sigterm

    configure_logging()
    bundle = load_bundle(target=args.target)
    config = _config(args, bundle)
    spark = build_spark_session(bundle, job)
    stopping = stop_on_sigterm(spark)
    run(spark, bundle, config, available_now=args.available_now)
    if stopping.is_set():
        for query in spark.streams.active:  # the first one ended the wait; the others end here
            query.stop()
        log.info("stopped on SIGTERM; the queries resume from their checkpoints at the next start")
    spark.stop()
    return 0


def start_job_process(
    bundle: Bundle, job_name: str, args: list[str], log: IO[bytes], env: dict[str, str] | None = None
) -> subprocess.Popen:
    """One of the bundle's jobs as a background process group with this interpreter, at the job's OS
    priority (the demo, benchmarks and tests; Airflow's supervisor submits it with spark-submit)."""
    entry_point = bundle.project_root / bundle.job(job_name).entry_point
    return subprocess.Popen(
        bundle.job(job_name).launch_command([sys.executable, str(entry_point), *args]),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_job_processes(processes: list[subprocess.Popen], timeout_s: float = 60) -> None:
    """SIGTERM to each (its driver stops its queries between batches), then SIGKILL what is left."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
