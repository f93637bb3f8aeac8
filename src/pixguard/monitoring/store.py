"""Delta `stream_metrics`: one row per progress report of each query of the job, with the decided
batch's own figures on the decision query's rows. The history `pixguard report` draws.

Rows are appended from a driver thread every few seconds, not inside the micro-batch: a metrics
write must never lengthen a batch. The table is append-only: a batch replayed after a crash
appears twice (under a new run_id), and readers take the latest row per (query_id, query, batch_id),
as `pixguard report` does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pixguard.monitoring.batch_metrics import BatchMetrics
from pixguard.monitoring.progress import ProgressMetrics

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STREAM_METRICS_SCHEMA = """
    job string, query string, query_id string, run_id string, batch_id long, progress_at timestamp,
    recorded_at timestamp, input_rows long, input_rows_per_second double, processed_rows_per_second double,
    batch_duration_ms long, trigger_execution_ms long, state_rows long, state_memory_bytes long,
    kafka_lag_records long,
    consumed long, scored long, quarantined long, duplicates long,
    approve long, review long, block long, unscored long,
    latency_p50_ms double, latency_p95_ms double, latency_p99_ms double, latency_max_ms double,
    score_bucket_counts array<long>, score_sum double,
    quarantine_reasons map<string, long>, model_version string, rules_version string
"""


def metrics_row(
    job: str, progress: ProgressMetrics | None, batch: BatchMetrics | None, recorded_at: datetime
) -> dict[str, Any]:
    """One row; either part may be missing (a progress report of a query that decides nothing, or a
    decided batch whose progress report never came because the query stopped)."""
    row: dict[str, Any] = {"job": job, "recorded_at": recorded_at.astimezone(UTC)}
    if progress is not None:
        row |= {
            "query": progress.query,
            "query_id": progress.query_id,
            "run_id": progress.run_id,
            "batch_id": progress.batch_id,
            "progress_at": progress.timestamp.astimezone(UTC),
            "input_rows": progress.input_rows,
            "input_rows_per_second": progress.input_rows_per_second,
            "processed_rows_per_second": progress.processed_rows_per_second,
            "batch_duration_ms": progress.batch_duration_ms,
            "trigger_execution_ms": progress.trigger_execution_ms,
            "state_rows": progress.state_rows,
            "state_memory_bytes": progress.state_memory_bytes,
            "kafka_lag_records": progress.kafka_lag_records,
        }
    if batch is not None:
        latency = batch.latency_ms
        row |= {
            "batch_id": batch.batch_id,
            "consumed": batch.consumed,
            "scored": batch.scored,
            "quarantined": batch.quarantined,
            "duplicates": batch.duplicates,
            "approve": batch.decisions.get("APPROVE", 0),
            "review": batch.decisions.get("REVIEW", 0),
            "block": batch.decisions.get("BLOCK", 0),
            "unscored": batch.unscored,
            "latency_p50_ms": latency.p50 if latency else None,
            "latency_p95_ms": latency.p95 if latency else None,
            "latency_p99_ms": latency.p99 if latency else None,
            "latency_max_ms": latency.max if latency else None,
            "score_bucket_counts": list(batch.score_bucket_counts),
            "score_sum": batch.score_sum,
            "quarantine_reasons": dict(batch.quarantine_reasons),
            "model_version": batch.model_version,
            "rules_version": batch.rules_version,
        }
    return row


def append_metrics(spark: SparkSession, path: str, rows: list[dict[str, Any]]) -> None:
    from pyspark.sql.types import _parse_datatype_string

    if not rows:
        return
    schema = _parse_datatype_string(" ".join(STREAM_METRICS_SCHEMA.split()))
    columns = schema.fieldNames()
    frame = spark.createDataFrame([tuple(row.get(c) for c in columns) for row in rows], schema)
    frame.write.format("delta").mode("append").option("mergeSchema", "true").save(path)
