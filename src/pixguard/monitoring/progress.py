"""A streaming query's progress report (the JSON Spark posts after each trigger) -> the figures we watch.

Pure: takes the parsed `StreamingQueryProgress.json`, so it is tested on recorded reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ProgressMetrics:
    query: str
    query_id: str
    run_id: str
    batch_id: int
    timestamp: datetime
    input_rows: int
    input_rows_per_second: float
    processed_rows_per_second: float
    batch_duration_ms: int
    trigger_execution_ms: int
    state_rows: int
    state_memory_bytes: int
    kafka_lag_records: int | None  # None when no source reports Kafka offsets (e.g. before the first batch)
    # The query's observed metrics (Dataset.observe), by name: one row of values each.
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    """Kafka offsets as Spark reports them: a JSON string {"topic": {"partition": offset}}."""
    if value in (None, "", "null"):
        return {}
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        return {}
    return {
        topic: {str(p): int(o) for p, o in partitions.items()}
        for topic, partitions in parsed.items()
        if isinstance(partitions, dict)
    }


def kafka_lag(sources: list[dict[str, Any]]) -> int | None:
    """Records the source had available but this batch did not read: latestOffset - endOffset,
    summed over topics and partitions. A partition missing from endOffset (new, not read yet) counts
    from its start, which latestOffset alone cannot give, so it is left out."""
    total, seen = 0, False
    for source in sources:
        latest, end = _offsets(source.get("latestOffset")), _offsets(source.get("endOffset"))
        for topic, partitions in latest.items():
            for partition, latest_offset in partitions.items():
                end_offset = end.get(topic, {}).get(partition)
                if end_offset is not None:
                    total += max(latest_offset - end_offset, 0)
                    seen = True
    return total if seen else None


def kafka_records_read(sources: list[dict[str, Any]]) -> int | None:
    """Records the batch read: endOffset - startOffset over every partition; None when a source has no
    start (a query's first batch) or a partition appeared since, so the count cannot be known."""
    total = 0
    for source in sources:
        start, end = _offsets(source.get("startOffset")), _offsets(source.get("endOffset"))
        if not start or not end:
            return None
        for topic, partitions in end.items():
            for partition, end_offset in partitions.items():
                start_offset = start.get(topic, {}).get(partition)
                if start_offset is None:
                    return None
                total += end_offset - start_offset
    return total if sources else None


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def progress_metrics(progress: dict[str, Any]) -> ProgressMetrics:
    """Where the Kafka offsets give the true record count, it replaces numInputRows (which counts the
    rows of every scan of a source) and the rates are scaled alike."""
    durations = progress.get("durationMs") or {}
    operators = progress.get("stateOperators") or []
    sources = progress.get("sources") or []
    spark_rows = int(progress.get("numInputRows") or 0)
    records = kafka_records_read(sources)
    scale = records / spark_rows if records is not None and spark_rows else 1.0
    return ProgressMetrics(
        query=progress.get("name") or str(progress["id"]),
        query_id=str(progress["id"]),
        run_id=str(progress["runId"]),
        batch_id=int(progress["batchId"]),
        timestamp=_timestamp(progress["timestamp"]),
        input_rows=records if records is not None else spark_rows,
        input_rows_per_second=float(progress.get("inputRowsPerSecond") or 0.0) * scale,
        processed_rows_per_second=float(progress.get("processedRowsPerSecond") or 0.0) * scale,
        batch_duration_ms=int(progress.get("batchDuration") or durations.get("triggerExecution") or 0),
        trigger_execution_ms=int(durations.get("triggerExecution") or 0),
        state_rows=sum(int(op.get("numRowsTotal") or 0) for op in operators),
        state_memory_bytes=sum(int(op.get("memoryUsedBytes") or 0) for op in operators),
        kafka_lag_records=kafka_lag(sources),
        observed={name: _observed_row(row) for name, row in (progress.get("observedMetrics") or {}).items()},
    )


def _observed_row(row: Any) -> dict[str, Any]:
    """An observed metrics row as the progress JSON has it: {"values": [...], "schema": {...}} or a
    plain {name: value} object, whichever the Spark version writes."""
    if isinstance(row, dict) and "values" in row and "schema" in row:
        names = [f["name"] for f in row["schema"]["fields"]]
        return dict(zip(names, row["values"], strict=False))
    return dict(row) if isinstance(row, dict) else {}
