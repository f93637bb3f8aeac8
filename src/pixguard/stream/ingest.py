"""The raw landing query: Kafka pix.transactions -> Delta transactions_raw."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.stream.raw import to_raw_records
from pixguard.stream.sinks import start_delta_stream
from pixguard.stream.sources import read_kafka_stream

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

# Query names name the checkpoints: renaming one would orphan its checkpoint.
RAW_INGEST_QUERY = "raw_ingest"


def start_raw_ingest(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> StreamingQuery:
    target = bundle.target
    records = read_kafka_stream(spark, target.kafka, config.topics.transactions.name, config.source)
    return start_delta_stream(
        records.transform(to_raw_records),
        path=target.table_path(config.tables.transactions_raw),
        checkpoint=target.checkpoint_path(RAW_INGEST_QUERY),
        query_name=RAW_INGEST_QUERY,
        trigger_interval_s=config.archive_trigger_interval_s,
        available_now=available_now,
        partition_by=["ingest_date"],
    )
