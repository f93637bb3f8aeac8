"""The smoke pipeline: sample messages -> Kafka -> Spark (Kafka connector) -> Delta (delta-spark), on
the smoke topic and table (stream/ingest.py): safe to run beside the streaming job."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from pixguard.config import Bundle, StreamingConfig
from pixguard.infra.delta_tables import read_if_exists
from pixguard.infra.producer import make_producer, publish


@dataclass(frozen=True)
class SmokeResult:
    published: int
    rows_before: int
    rows_after: int
    run_id: str
    rows_of_run: int
    distinct_offsets_of_run: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rows_of_run == self.published == self.distinct_offsets_of_run

    def summary(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"smoke {verdict}: published {self.published} messages to Kafka; Spark landed "
            f"{self.rows_of_run} of them in Delta ({self.distinct_offsets_of_run} distinct offsets); "
            f"table rows {self.rows_before} -> {self.rows_after}; {self.seconds:.1f}s"
        )


def run_smoke(bundle: Bundle, config: StreamingConfig, count: int) -> SmokeResult:
    from pyspark.sql import functions as F

    from pixguard.infra.kafka_topics import ensure_topics
    from pixguard.infra.spark import build_spark_session
    from pixguard.stream.ingest import start_smoke_ingest

    started = time.monotonic()
    run_id = uuid.uuid4().hex
    ensure_topics(bundle.target.kafka, [config.topics.smoke])
    topic = config.topics.smoke.name
    records = ((f"smoke-{i % 16}".encode(), json.dumps({"smoke_run": run_id, "seq": i}).encode()) for i in range(count))
    published = publish(make_producer(bundle.target.kafka), topic, records)

    spark = build_spark_session(bundle, "smoke")
    path = bundle.target.table_path(config.tables.smoke)
    rows_before = _count_rows(spark, path)
    start_smoke_ingest(spark, bundle, config, available_now=True).awaitTermination()
    table = spark.read.format("delta").load(path)
    of_run = table.where(F.get_json_object(F.col("value").cast("string"), "$.smoke_run") == run_id)
    return SmokeResult(
        published=published,
        rows_before=rows_before,
        rows_after=table.count(),
        run_id=run_id,
        rows_of_run=of_run.count(),
        distinct_offsets_of_run=of_run.select("partition", "offset").distinct().count(),
        seconds=time.monotonic() - started,
    )


def _count_rows(spark, path: str) -> int:  # noqa: ANN001
    table = read_if_exists(spark, path)
    return table.count() if table is not None else 0
