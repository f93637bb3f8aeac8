"""Bronze: Kafka records as received, with where they came from."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def to_raw_records(kafka_records: DataFrame) -> DataFrame:
    """Keep the bytes untouched (a record that fails parsing is still here to replay) plus its coordinates."""
    from pyspark.sql import functions as F

    return kafka_records.select(
        F.col("key").cast("string").alias("kafka_key"),
        F.col("value").alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.to_date("timestamp").alias("ingest_date"),
    )
