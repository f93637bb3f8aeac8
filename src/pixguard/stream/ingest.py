"""Landing queries: a Kafka topic as received -> a Delta table (bronze).

- raw_ingest: pix.transactions -> transactions_raw, beside the decisions (stream/job.py);
- smoke_ingest: topics.smoke -> tables.smoke, the connectors' check (`pixguard smoke`, the
  `pix_smoke` DAG). It has a topic, table and checkpoint of its own: run while the stream
  runs, it must neither feed the decisions messages that are not payments nor share a checkpoint
  with raw_ingest (two queries on one checkpoint corrupt it)."""

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
SMOKE_INGEST_QUERY = "smoke_ingest"


def start_raw_ingest(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> StreamingQuery:
    topic, table = config.topics.transactions.name, config.tables.transactions_raw
    return _start_landing(spark, bundle, config, topic, table, RAW_INGEST_QUERY, available_now)


def start_smoke_ingest(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, available_now: bool = False
) -> StreamingQuery:
    return _start_landing(
        spark, bundle, config, config.topics.smoke.name, config.tables.smoke, SMOKE_INGEST_QUERY, available_now
    )


def _start_landing(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    topic: str,
    table: str,
    query_name: str,
    available_now: bool,
) -> StreamingQuery:
    target = bundle.target
    records = read_kafka_stream(spark, target.kafka, topic, config.source)
    return start_delta_stream(
        records.transform(to_raw_records),
        path=target.table_path(table),
        checkpoint=target.checkpoint_path(query_name),
        query_name=query_name,
        trigger_interval_s=config.archive_trigger_interval_s,
        available_now=available_now,
        partition_by=["ingest_date"],
    )
