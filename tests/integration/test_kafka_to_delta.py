"""The connectors end to end: a real KRaft broker, Spark's Kafka source, the Delta sink."""

from __future__ import annotations

import json

import pytest

from pixguard.infra.producer import make_producer, publish
from pixguard.stream.ingest import start_raw_ingest

pytestmark = pytest.mark.integration

N_MESSAGES = 2_500


def test_n_messages_land_in_delta_exactly_once_even_when_the_query_restarts(
    spark,
    bundle,
    streaming_config,
    fresh_topic,
    tmp_path,  # noqa: ANN001
) -> None:
    topics = streaming_config.topics.model_copy(update={"transactions": fresh_topic})
    tables = streaming_config.tables.model_copy(
        update={"transactions_raw": f"raw_{fresh_topic.name.replace('.', '_')}"}
    )
    config = streaming_config.model_copy(update={"topics": topics, "tables": tables})
    # Its own checkpoint: a query name's checkpoint belongs to one source topic.
    bundle = bundle.model_copy(update={"target": bundle.target.model_copy(update={"checkpoint_root": str(tmp_path)})})
    first_half = [(f"payer-{i % 7}".encode(), json.dumps({"seq": i}).encode()) for i in range(N_MESSAGES // 2)]
    second_half = [
        (f"payer-{i % 7}".encode(), json.dumps({"seq": i}).encode()) for i in range(N_MESSAGES // 2, N_MESSAGES)
    ]
    producer = make_producer(bundle.target.kafka)
    assert publish(producer, fresh_topic.name, first_half) == len(first_half)

    start_raw_ingest(spark, bundle, config, available_now=True).awaitTermination()
    # A second run of the same query resumes from its checkpoint: only the new messages are read.
    assert publish(producer, fresh_topic.name, second_half) == len(second_half)
    start_raw_ingest(spark, bundle, config, available_now=True).awaitTermination()
    start_raw_ingest(spark, bundle, config, available_now=True).awaitTermination()

    table = spark.read.format("delta").load(bundle.target.table_path(config.tables.transactions_raw))
    rows = table.collect()
    assert len(rows) == N_MESSAGES
    assert sorted(json.loads(bytes(r.value))["seq"] for r in rows) == list(range(N_MESSAGES))
    assert len({(r.partition, r.offset) for r in rows}) == N_MESSAGES
    assert {r.topic for r in rows} == {fresh_topic.name}
    assert {r.partition for r in rows} == {0, 1}


def test_the_smoke_check_lands_its_messages_and_leaves_the_payments_alone(isolated, spark) -> None:  # noqa: ANN001
    from pathlib import Path

    from pixguard.stack.smoke import run_smoke
    from tests.integration.kafka_helpers import read_topic

    bundle, config = isolated
    result = run_smoke(bundle, config, 200)
    assert result.ok and result.rows_of_run == result.published == 200, result.summary()
    assert read_topic(bundle.target.kafka, config.topics.transactions.name) == []
    assert not Path(bundle.target.table_path(config.tables.transactions_raw)).exists()
    assert not Path(bundle.target.checkpoint_path("raw_ingest")).exists()


def test_the_dict_mirror_appends_keys_and_marks_to_the_tables_a_new_hot_path_seeds_from(
    isolated, spark, tmp_path
) -> None:  # noqa: ANN001
    from datetime import datetime

    from pixguard.domain.schema import KEY_REGISTRY_FIELDS, ddl_of
    from pixguard.stream.archive import start_dict_mirror_queries
    from pixguard.stream.seed import hot_path_seeds

    bundle, config = isolated
    registry = bundle.target.table_path(config.tables.key_registry)
    # As history leaves it: the stream appends to the table the simulator wrote.
    spark.createDataFrame(
        [("52998224725", "CPF", "52998224725", datetime(2026, 1, 2, 3, 4, 5))], ddl_of(KEY_REGISTRY_FIELDS)
    ).write.format("delta").save(registry)
    key = {"key": "+5511987654321", "key_type": "PHONE", "owner_document": "11144477735"}
    producer = make_producer(bundle.target.kafka)
    publish(
        producer,
        config.topics.dict_keys.name,
        [(b"k", json.dumps({**key, "created_at": "2026-11-26T09:30:00.250Z"}).encode()), (b"x", b"{not json")],
    )
    mark = {"marked_value": "11144477735", "mark_type": "DOCUMENT", "marked_at": "2026-11-26T10:00:00Z"}
    publish(producer, config.topics.dict_marks.name, [(b"m", json.dumps(mark).encode())])

    for query in start_dict_mirror_queries(spark, bundle, config, available_now=True):
        query.awaitTermination()

    keys = spark.read.format("delta").load(registry).orderBy("created_at").collect()
    assert [(r.key, r.key_type, r.owner_document) for r in keys] == [
        (None, None, None),  # the message that is no key: kept, joined by nothing
        ("52998224725", "CPF", "52998224725"),
        tuple(key.values()),
    ]
    assert keys[2].created_at == datetime(2026, 11, 26, 9, 30, 0, 250_000)
    seeds = hot_path_seeds(spark, bundle, config, str(tmp_path / "new_hot_path"))
    assert {r.key for r in seeds.key_registry.collect()} == {None, "52998224725", "+5511987654321"}
    assert [(r.marked_value, r.marked_at) for r in seeds.dict_marks.collect()] == [
        ("11144477735", datetime(2026, 11, 26, 10, 0))
    ]
