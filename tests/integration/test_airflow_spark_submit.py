"""Airflow submits a bundle job with the Spark provider, through the connection built from the target."""

from __future__ import annotations

import json
import uuid

import pytest

from pixguard.infra.kafka_topics import ensure_topics
from pixguard.infra.producer import make_producer, publish
from pixguard.stack.airflow_server import airflow_command

pytestmark = pytest.mark.integration


def test_dags_test_runs_spark_submit_from_the_bundle(bundle, streaming_config, kafka_broker, spark) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    ensure_topics(bundle.target.kafka, [streaming_config.topics.smoke])
    run_id = uuid.uuid4().hex
    records = [(b"k", json.dumps({"airflow_run": run_id, "seq": i}).encode()) for i in range(300)]
    publish(make_producer(bundle.target.kafka), streaming_config.topics.smoke.name, records)

    assert airflow_command(bundle, "db", "migrate").returncode == 0
    result = airflow_command(bundle, "dags", "test", "pix_smoke")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "state=success" in result.stdout + result.stderr

    landing = spark.read.format("delta").load(bundle.target.table_path(streaming_config.tables.smoke))
    landed = landing.where(F.get_json_object(F.col("value").cast("string"), "$.airflow_run") == run_id)
    assert landed.count() == 300
    assert {r.topic for r in landed.select("topic").distinct().collect()} == {streaming_config.topics.smoke.name}
