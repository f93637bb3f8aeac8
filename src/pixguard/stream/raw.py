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


def as_kafka_records(raw_records: DataFrame) -> DataFrame:
    """The landed rows back in the Kafka source's shape (key, value, topic, partition, offset,
    timestamp), which is what `parse_transactions` reads: the landing can be re-validated or replayed."""
    from pyspark.sql import functions as F

    return raw_records.select(
        F.col("kafka_key").cast("binary").alias("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("kafka_timestamp").alias("timestamp"),
    )
