"""Reading Kafka with Spark's official connector (spark-sql-kafka-0-10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.config import KafkaSettings, SourceSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# The archive's reads are cut into this many tasks at least: short tasks free a core for the hot
# path's next task within a fraction of a second (the fair scheduler hands it over), where one task per
# Kafka partition held it for the seconds 30 s of records take.
ARCHIVE_READ_TASKS = 8


def read_kafka_stream(spark: SparkSession, kafka: KafkaSettings, topic: str, source: SourceSettings) -> DataFrame:
    """One topic, for the archive queries and the landings: read in ARCHIVE_READ_TASKS tasks or more."""
    return _kafka_reader(spark, kafka, [topic], source).option("minPartitions", str(ARCHIVE_READ_TASKS)).load()


def _kafka_reader(spark: SparkSession, kafka: KafkaSettings, topics: list[str], source: SourceSettings):  # noqa: ANN202
    return (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", source.starting_offsets)
        .option("maxOffsetsPerTrigger", str(source.max_offsets_per_trigger))
        .option("failOnDataLoss", str(source.fail_on_data_loss).lower())
    )


def read_kafka_topics(
    spark: SparkSession, kafka: KafkaSettings, topics: list[str], source: SourceSettings
) -> DataFrame:
    """One source over several topics: each record is read once, whichever topic it is on."""
    return _kafka_reader(spark, kafka, topics, source).load()
