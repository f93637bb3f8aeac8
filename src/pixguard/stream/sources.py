"""Reading Kafka with Spark's official connector (spark-sql-kafka-0-10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.config import KafkaSettings, SourceSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_kafka_stream(spark: SparkSession, kafka: KafkaSettings, topic: str, source: SourceSettings) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", topic)
        .option("startingOffsets", source.starting_offsets)
        .option("maxOffsetsPerTrigger", str(source.max_offsets_per_trigger))
        .option("failOnDataLoss", str(source.fail_on_data_loss).lower())
        .load()
    )
