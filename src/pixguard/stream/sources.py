"""Reading Kafka with Spark's official connector (spark-sql-kafka-0-10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.config import KafkaSettings, SourceSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# How long the broker may hold a fetch that finds no new records. A fetch sent for a position
# before the task seeks elsewhere is discarded on return; at the client's default (500 ms) that
# held a micro-batch's read for half a second, about once a minute (bench/RESULTS.md).
FETCH_MAX_WAIT_MS = 10


def read_kafka_stream(spark: SparkSession, kafka: KafkaSettings, topic: str, source: SourceSettings) -> DataFrame:
    return read_kafka_topics(spark, kafka, [topic], source)


def read_kafka_topics(
    spark: SparkSession, kafka: KafkaSettings, topics: list[str], source: SourceSettings, real_time: bool = False
) -> DataFrame:
    """One source over several topics: each record is read once, whichever topic it is on. In
    real-time mode a batch reads for its whole interval, and Spark refuses a cap on its records."""
    reader = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", source.starting_offsets)
        .option("failOnDataLoss", str(source.fail_on_data_loss).lower())
        .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
    )
    if not real_time:
        reader = reader.option("maxOffsetsPerTrigger", str(source.max_offsets_per_trigger))
    return reader.load()
