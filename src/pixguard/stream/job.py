"""The streaming job: the hot path and the archive, each query with its own checkpoint under the target.

- hot_path: pix.transactions, pix.dict-keys, pix.dict-marks -> decisions on pix.decisions, pix.alerts,
  pix.dlq and pix.decision-log (pixguard.stream.hot_path), deciding with what the driver publishes
  (pixguard.stream.serving)
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
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
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
        for query in spark.streams.active:
            with contextlib.suppress(Exception):  # stopped meanwhile
                query.stop()

    def on_sigterm(signum: int, frame: object) -> None:
        if not requested.is_set():
            requested.set()
            log.info("SIGTERM: stopping the queries")
            threading.Thread(target=stop_queries, name="pixguard-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    return requested


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
    """Start every query; return when all have finished (available_now) or when one fails.

    With `available_now` the hot path runs to the end of its input first, then the archive takes in
    what it published: started together, the archive would stop at the decision log's end as it was
    when it started."""
    from pyspark.errors import StreamingQueryException

    from pixguard.monitoring.job_monitor import start_job_monitor

    reasons = quarantine_reason_codes(load_transaction_checks(bundle.project_root))
    monitor = start_job_monitor(spark, bundle, config, job=f"{bundle.name}-streaming")
    queries: list[StreamingQuery] = []
    publisher: ServingPublisher | None = None
    try:
        hot_path, publisher = start_hot_path_query(spark, bundle, config, available_now)
        if monitor is not None:
            monitor.watch_serving(publisher)
        queries.append(hot_path)
        if available_now:
            hot_path.awaitTermination()
        queries += [
            *start_archive_queries(spark, bundle, config, reasons, available_now),
            start_raw_ingest(spark, bundle, config, available_now),
            start_labels_query(spark, bundle, config, available_now),
            *start_dict_mirror_queries(spark, bundle, config, available_now),
        ]
        if available_now:
            for query in queries:
                query.awaitTermination()
            return
        spark.streams.awaitAnyTermination()
        for query in queries:
            if query.exception() is not None:
                raise query.exception()
    except StreamingQueryException as exc:
        if "StateLayoutError" in str(exc) or "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE" in str(exc):
            raise FeatureStateMismatch(bundle.target.checkpoint_path(HOT_PATH_QUERY)) from exc
        raise
    finally:
        if publisher is not None:
            publisher.stop()
        if monitor is not None:
            monitor.stop(queries=[q.name for q in queries if not q.isActive])
