"""The two streaming applications, each query with its own checkpoint under the target.

The streaming job (jobs/streaming.py) decides:
- hot_path: pix.transactions, pix.dict-keys, pix.dict-marks -> decisions on pix.decisions, pix.alerts,
  pix.dlq and pix.decision-log (pixguard.stream.hot_path), deciding with what the driver publishes
  (pixguard.stream.serving). No Delta in its application: nothing slows a decision but deciding.

The archive job (jobs/archive.py) writes Delta from the topics, on a slower trigger, in an application
of its own: on the cluster target on its own executors, on one machine at a lower OS priority
(bundle.yaml `nice`), so its Delta commits take the cores only when the hot path leaves them idle:
- decisions_archive, quarantine_archive: pix.decision-log -> Delta decisions, quarantine
- raw_ingest: pix.transactions as received -> Delta transactions_raw
- fraud_labels: pix.fraud-reports -> Delta fraud_labels
- dict_keys, dict_marks: the DICT mirror -> Delta key_registry, dict_marks
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.monitoring.job_monitor import start_job_monitor
from pixguard.stream.archive import start_archive_queries, start_dict_mirror_queries, start_labels_query
from pixguard.stream.hot_path import HOT_PATH_QUERY, rule_schema, serving_dir, start_hot_path
from pixguard.stream.ingest import start_raw_ingest
from pixguard.stream.seed import hot_path_seeds
from pixguard.stream.serving import ServingPublisher, compile_model_inputs
from pixguard.stream.validate import quarantine_reason_codes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger("pixguard.stream")

# The bundle's jobs (bundle.yaml `jobs`) these applications are.
STREAMING_JOB = "streaming"
ARCHIVE_JOB = "archive"


class FeatureStateMismatch(RuntimeError):
    def __init__(self, checkpoint: str) -> None:
        super().__init__(
            f"the keyed state in the checkpoint {checkpoint} was written by another version of the hot path's "
            "operators (build/pixguard-features.jar), whose state layout differs. To go on, move that "
            "checkpoint aside: the hot path then starts anew, seeds its state from the archive (the "
            "payments of the last 90 days, key_registry, dict_marks) and reads Kafka from "
            "source.starting_offsets."
        )


def stop_on_sigterm(spark: SparkSession) -> threading.Event:
    """On SIGTERM (the supervisor stopping the job, the demo's end), stop every query from a thread, so
    that the main thread's wait returns as for any stop: each query ends where it is, its checkpoint
    intact, and the log reads as a stop instead of the stack traces of a session killed under its
    queries. The event tells the caller the stop was asked for."""
    requested = threading.Event()

    def stop_queries() -> None:
        queries = spark.streams.active
        between_batches(queries)
        for query in queries:
            with contextlib.suppress(Exception):  # stopped meanwhile
                query.stop()

    def on_sigterm(signum: int, frame: object) -> None:
        if not requested.is_set():
            requested.set()
            log.info("SIGTERM: stopping the queries")
            threading.Thread(target=stop_queries, name="pixguard-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    return requested


def between_batches(queries: list[StreamingQuery], timeout_s: float = 20.0) -> None:
    """Wait (at most `timeout_s`) for a moment when none of the queries runs a batch: stopped then,
    their tasks are not interrupted mid-write (which is safe, the batch is redone at the next start,
    but fills the log with stack traces)."""

    def busy() -> bool:
        with contextlib.suppress(Exception):  # a query stopped meanwhile is not busy
            return any(q.isActive and q.status.get("isTriggerActive") for q in queries)
        return False

    deadline = time.monotonic() + timeout_s
    while busy() and time.monotonic() < deadline:
        time.sleep(0.05)


def start_hot_path_query(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> tuple[StreamingQuery, ServingPublisher]:
    """The serving publisher (started: what the first batch decides with is published) and the hot path."""
    publisher = ServingPublisher(spark, bundle, config, serving_dir(bundle)).start()
    inputs = compile_model_inputs(spark, rule_schema(spark).json())
    seeds = hot_path_seeds(spark, bundle, config, bundle.target.checkpoint_path(HOT_PATH_QUERY))
    return start_hot_path(spark, bundle, config, inputs, seeds, available_now=available_now), publisher


def run_streaming_job(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> None:
    """The hot path with its serving publisher and monitor; returns when the query ends (available_now:
    at the end of its input)."""
    from pyspark.errors import StreamingQueryException

    # No stream_metrics from here: the archive job writes that table, this application no Delta.
    monitor = start_job_monitor(spark, bundle, config, STREAMING_JOB, config.monitoring.metrics_port, store=False)
    publisher: ServingPublisher | None = None
    queries: list[StreamingQuery] = []
    try:
        hot_path, publisher = start_hot_path_query(spark, bundle, config, available_now)
        if monitor is not None:
            monitor.watch_serving(publisher)
        queries.append(hot_path)
        _await(spark, queries, available_now)
    except StreamingQueryException as exc:
        if "StateLayoutError" in str(exc) or "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE" in str(exc):
            raise FeatureStateMismatch(bundle.target.checkpoint_path(HOT_PATH_QUERY)) from exc
        raise
    finally:
        if publisher is not None:
            publisher.stop()
        if monitor is not None:
            monitor.stop(queries=[q.name for q in queries if not q.isActive])


def run_archive_job(spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False) -> None:
    """Every archive query and its monitor; returns when all have finished (available_now: at the end of
    their input, so after a hot path run to its end the archive holds all it published) or one fails."""
    monitor = start_job_monitor(spark, bundle, config, ARCHIVE_JOB, config.monitoring.archive_metrics_port, store=True)
    queries: list[StreamingQuery] = []
    try:
        queries += start_archive(spark, bundle, config, available_now)
        _await(spark, queries, available_now)
    finally:
        if monitor is not None:
            monitor.stop(queries=[q.name for q in queries if not q.isActive])


def start_archive(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> list[StreamingQuery]:
    reasons = quarantine_reason_codes(load_transaction_checks(bundle.project_root))
    return [
        *start_archive_queries(spark, bundle, config, reasons, available_now),
        start_raw_ingest(spark, bundle, config, available_now),
        start_labels_query(spark, bundle, config, available_now),
        *start_dict_mirror_queries(spark, bundle, config, available_now),
    ]


def _await(spark: SparkSession, queries: list[StreamingQuery], available_now: bool) -> None:
    """Until every query has finished (available_now) or one of them ends, whose error is raised."""
    if available_now:
        for query in queries:
            query.awaitTermination()
        return
    spark.streams.awaitAnyTermination()
    for query in queries:
        if query.exception() is not None:
            raise query.exception()
