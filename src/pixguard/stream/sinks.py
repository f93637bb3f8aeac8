"""Writing streams: Delta tables, each query with its own checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery


def start_delta_stream(
    df: DataFrame,
    path: str,
    checkpoint: str,
    query_name: str,
    trigger_interval_s: float,
    available_now: bool = False,
    partition_by: list[str] | None = None,
) -> StreamingQuery:
    """Append to a Delta table; the Delta sink with a checkpoint writes each micro-batch exactly once.

    `available_now` processes what is in the source and stops: the same query serves backfills and
    integration tests."""
    writer = (
        df.writeStream.format("delta")
        .outputMode("append")
        .queryName(query_name)
        .option("checkpointLocation", checkpoint)
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer = (
        writer.trigger(availableNow=True)
        if available_now
        else writer.trigger(processingTime=f"{int(trigger_interval_s * 1000)} milliseconds")
    )
    return writer.start(path)
