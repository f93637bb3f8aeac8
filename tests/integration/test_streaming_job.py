"""The streaming job end to end on the real broker and Spark: every record lands exactly once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from pixguard.producer import make_producer, publish
from pixguard.rules import parse_rules
from pixguard.stream.job import run_streaming_job
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration


RUN_MINUTE = f"{datetime.now(UTC):%Y%m%d%H%M}"


def e2e_id(seq: int) -> str:
    return f"E60746948{RUN_MINUTE}{seq:011d}"


def valid_set(now: datetime) -> list[dict]:
    """20 valid payments: a burst of 7 from one payer (velocity rule on the 6th and 7th), 13 quiet ones."""
    burst = [
        good_message(
            end_to_end_id=e2e_id(i),
            event_time=(now - timedelta(seconds=70 - 10 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            amount_brl=90.0 + i,
            payer_document="52998224725",
        )
        for i in range(7)
    ]
    quiet = [
        good_message(
            end_to_end_id=e2e_id(100 + i),
            event_time=(now - timedelta(seconds=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            amount_brl=20.0 + i,
            payer_document=valid_cpf(i),
        )
        for i in range(13)
    ]
    return burst + quiet


def test_each_valid_transaction_is_decided_once_and_each_bad_record_quarantined_with_its_reason(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    bundle, config = isolated
    now = datetime.now(UTC)
    valid = valid_set(now)
    malformed = {
        b"{this is not json": "malformed_json",
        json.dumps(good_message(end_to_end_id=e2e_id(900), amount_brl=-3)).encode(): "amount_out_of_range",
        json.dumps(good_message(end_to_end_id="E1")).encode(): "invalid_end_to_end_id",
        json.dumps(good_message(end_to_end_id=e2e_id(901), amount_brl="12,50")).encode(): "wrong_type_amount_brl",
        json.dumps(good_message(end_to_end_id=e2e_id(902), payer_document="52998224724")).encode(): (
            "invalid_payer_document"  # a CPF whose second check digit is off by one
        ),
    }
    records = [(m["payer_document"].encode(), json.dumps(m).encode()) for m in valid]
    repeats = records[:3]  # the same messages sent again: a producer retry, a replay
    producer = make_producer(bundle.target.kafka)
    publish(producer, config.topics.transactions.name, records + [(b"bad", value) for value in malformed])
    publish(producer, config.topics.transactions.name, repeats)

    run_streaming_job(spark, bundle, config, available_now=True)

    decisions = spark.read.format("delta").load(bundle.target.table_path("decisions"))
    assert decisions.count() == len(valid)
    appends = DeltaTable.forPath(spark, bundle.target.table_path("decisions")).history().collect()
    assert all(int(c.operationMetrics["numOutputRows"]) > 0 for c in appends if c.operation == "WRITE")
    assert {r.end_to_end_id for r in decisions.select("end_to_end_id").collect()} == {m["end_to_end_id"] for m in valid}
    quarantine = spark.read.format("delta").load(bundle.target.table_path("quarantine"))
    by_reason = sorted((r.reason, bytes(r.value) if r.value else None) for r in quarantine.collect())
    assert sorted(reason for reason, _ in by_reason) == sorted([*malformed.values(), *["duplicate_end_to_end_id"] * 3])
    assert {value: reason for reason, value in by_reason if reason != "duplicate_end_to_end_id"} == malformed
    # in = scored + quarantined, over the whole run
    consumed = len(records) + len(malformed) + len(repeats)
    assert decisions.count() + quarantine.count() == consumed

    burst = {r.end_to_end_id: r for r in decisions.where(F.col("payer_document") == "52998224725").collect()}
    assert burst[e2e_id(5)].payer_tx_count_10m == 5 and "VELOCITY_BURST" in burst[e2e_id(5)].reasons
    assert burst[e2e_id(5)].decision == "REVIEW" and burst[e2e_id(4)].decision == "APPROVE"
    row = burst[e2e_id(6)]
    assert row.model_version is None and row.score is None  # no champion yet: rules alone
    shipped_rules = (bundle.project_root / config.rules.path).read_text()
    assert row.rules_version == parse_rules(shipped_rules, "rules.yaml")[0] and row.decision_latency_ms >= 0

    published = read_topic(bundle.target.kafka, config.topics.decisions.name)
    assert sorted(k for k, _ in published) == sorted(m["end_to_end_id"] for m in valid)
    alerts = read_topic(bundle.target.kafka, config.topics.alerts.name)
    expected_alerts = {r.end_to_end_id for r in decisions.where(F.col("decision") != "APPROVE").collect()}
    assert {k for k, _ in alerts} == expected_alerts and expected_alerts >= {e2e_id(5), e2e_id(6)}
    assert all(v["decision"] in ("REVIEW", "BLOCK") and v["end_to_end_id"] == k for k, v in alerts)
    dlq = read_topic(bundle.target.kafka, config.topics.dlq.name)
    assert len(dlq) == len(malformed) + len(repeats)


def test_a_replayed_first_batch_does_not_find_its_own_payments_in_its_history(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
) -> None:
    """The job dies after the first micro-batch committed its decisions to Delta and before the
    checkpoint recorded the batch: the replay seeds the feature state from the same history as the
    first attempt (as of the pinned version), so its payments are decided, not taken for repeats."""
    from pathlib import Path

    bundle, config = isolated
    valid = valid_set(datetime.now(UTC))
    records = [(m["payer_document"].encode(), json.dumps(m).encode()) for m in valid]
    assert publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records) == len(records)
    run_streaming_job(spark, bundle, config, available_now=True)

    checkpoint = Path(bundle.target.checkpoint_path("decisions"))
    commits = checkpoint / "commits"
    assert (commits / "0").exists()
    # Back to the moment after batch 0's Delta commit: no batch recorded as done, none planned after it
    # (an available-now run also runs a batch without data for the state's timers).
    for done in commits.iterdir():
        done.unlink()
    for planned in (checkpoint / "offsets").iterdir():
        if planned.name.lstrip(".").split(".")[0] != "0":
            planned.unlink()
    run_streaming_job(spark, bundle, config, available_now=True)

    decisions = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions))
    assert decisions.count() == len(valid)  # the replay's Delta append was recognised as done
    quarantine_path = Path(bundle.target.table_path(config.tables.quarantine))
    quarantined = spark.read.format("delta").load(str(quarantine_path)).count() if quarantine_path.exists() else 0
    assert quarantined == 0
    assert (commits / "0").exists()


def on_session_mlflow(bundle, mlflow_server):  # noqa: ANN001, ANN201
    mlflow = bundle.target.mlflow.model_copy(update={"tracking_uri": mlflow_server.tracking_uri})
    return bundle.model_copy(update={"target": bundle.target.model_copy(update={"mlflow": mlflow})})


def champion_promoter(bundle):  # noqa: ANN001, ANN201
    """promote(seed) registers a tiny model of the served features and moves `champion` to it."""
    from mlflow import MlflowClient

    from pixguard.features.model_input import MODEL_FEATURES
    from pixguard.model.publish import log_fraud_model
    from tests.integration.test_hot_reload import tiny_booster

    mlflow = bundle.target.mlflow

    def promote(seed: int) -> str:
        booster, frame = tiny_booster(MODEL_FEATURES, seed)
        version = log_fraud_model(booster, frame, mlflow.tracking_uri, mlflow.registered_model).version
        MlflowClient(mlflow.tracking_uri).set_registered_model_alias(mlflow.registered_model, "champion", version)
        return version

    return promote


def published_then_crashed_before_the_first_commit(spark, bundle, config, monkeypatch) -> tuple[list[dict], dict]:  # noqa: ANN001
    """Send the valid set and run the job until its first append to `decisions` raises, as if the
    driver died after batch 0's Kafka publish and before its Delta commit. Returns the set and the
    decisions published, by end_to_end_id."""
    from pixguard.stream.decisions import DecisionBatch

    valid = valid_set(datetime.now(UTC))
    records = [(m["payer_document"].encode(), json.dumps(m).encode()) for m in valid]
    assert publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records) == len(records)
    append = DecisionBatch._append_delta
    crashes: list[int] = []

    def crashing(self, df, table, batch_id):  # noqa: ANN001, ANN202
        if table == config.tables.decisions and not crashes:
            crashes.append(batch_id)
            raise RuntimeError("the driver died before the Delta commit")
        return append(self, df, table, batch_id)

    monkeypatch.setattr(DecisionBatch, "_append_delta", crashing)
    with pytest.raises(Exception, match="the driver died before the Delta commit"):
        run_streaming_job(spark, bundle, config, available_now=True)
    published = {k: v for k, v in read_topic(bundle.target.kafka, config.topics.decisions.name)}
    assert crashes == [0] and set(published) == {m["end_to_end_id"] for m in valid}
    return valid, published


def test_a_batch_replayed_after_its_kafka_publish_is_decided_as_published(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
    monkeypatch,
    tmp_path,
) -> None:
    """The job dies after batch 0 published its decisions and before its Delta commit; meanwhile the
    rules change, a new champion is promoted, and the payee's key and document reach the DICT
    mirror (a registered key, a fraud mark dated before the payments). The replay decides with the
    model, rules, reference table versions and decision time it published with, so the rows in
    `decisions` are the decisions consumers already acted on."""
    from pathlib import Path

    from pixguard.simulator.history import DICT_MARKS_SCHEMA, KEY_REGISTRY_SCHEMA

    bundle, config = isolated
    bundle = on_session_mlflow(bundle, mlflow_server)
    promote = champion_promoter(bundle)

    def append_reference(table: str, rows: list[tuple], schema: str) -> None:
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(bundle.target.table_path(table))

    now = datetime.now(UTC).replace(tzinfo=None)
    payee = good_message()
    # Version 0 of each reference table: nothing about this payee.
    append_reference(config.tables.key_registry, [("39053344705", "CPF", "39053344705", now)], KEY_REGISTRY_SCHEMA)
    append_reference(config.tables.dict_marks, [("39053344705", "DOCUMENT", now)], DICT_MARKS_SCHEMA)

    first_champion = promote(seed=1)
    _, first = published_then_crashed_before_the_first_commit(spark, bundle, config, monkeypatch)

    shipped = Path(bundle.project_root, config.rules.path).read_text()
    changed = tmp_path / "rules.yaml"
    changed.write_text(re.sub(r"^version: .*$", 'version: "changed-while-down"', shipped, flags=re.MULTILINE))
    restarted = config.model_copy(update={"rules": config.rules.model_copy(update={"path": str(changed)})})
    new_champion = promote(seed=2)
    a_day_ago = now - timedelta(days=1)
    append_reference(
        config.tables.key_registry,
        [(payee["payee_key"], payee["payee_key_type"], payee["payee_document"], a_day_ago)],
        KEY_REGISTRY_SCHEMA,
    )
    append_reference(config.tables.dict_marks, [(payee["payee_document"], "DOCUMENT", a_day_ago)], DICT_MARKS_SCHEMA)
    run_streaming_job(spark, bundle, restarted, available_now=True)

    rows = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions)).collect()
    assert sorted(r.end_to_end_id for r in rows) == sorted(first)  # each decided once
    published_rules = {v["rules_version"] for v in first.values()}
    assert published_rules == {parse_rules(shipped, "rules.yaml")[0]}
    assert {r.rules_version for r in rows} == published_rules
    for row in rows:
        published = first[row.end_to_end_id]
        # decision_latency_ms is decided_at - event_time: the same decision time
        assert (row.decision, row.decision_latency_ms) == (published["decision"], published["decision_latency_ms"])
        assert (row.model_version, row.score) == (first_champion, published["score"]) and row.score is not None
        assert row.reasons == published["reasons"] and "DICT_MARKED_PAYEE" not in row.reasons
        assert (row.payee_key_age_days, row.payee_dict_marked) == (None, False)
    # Later batches use the rules in force: the plan belongs to the replayed batch only.
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    more = [good_message(end_to_end_id=e2e_id(500), payer_document="11144477735", event_time=at)]
    publish(make_producer(bundle.target.kafka), config.topics.transactions.name, [(b"k", json.dumps(more[0]).encode())])
    run_streaming_job(spark, bundle, restarted, available_now=True)
    later = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions))
    newest = later.where(f"end_to_end_id = '{e2e_id(500)}'").first()
    assert newest.rules_version.startswith("changed-while-down") and newest.model_version == new_champion
    assert newest.payee_dict_marked and newest.decision == "BLOCK" and "DICT_MARKED_PAYEE" in newest.reasons
    assert newest.payee_key_age_days == pytest.approx(1.0, abs=0.01)


def test_a_replay_whose_recorded_model_version_is_gone_is_decided_with_the_champion_in_force(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
    monkeypatch,
    caplog,
) -> None:
    """Batch 0 published with version 1, the job died before the Delta commit, and version 1 was
    deleted from the registry while it was down: failing the replay would fail every restart, so it
    is decided with the champion in force, the rows say which, and an error says it may differ."""
    from mlflow import MlflowClient

    bundle, config = isolated
    bundle = on_session_mlflow(bundle, mlflow_server)
    promote = champion_promoter(bundle)
    deleted = promote(seed=1)
    valid, published = published_then_crashed_before_the_first_commit(spark, bundle, config, monkeypatch)
    assert {v["model_version"] for v in published.values()} == {deleted}

    in_force = promote(seed=2)
    MlflowClient(bundle.target.mlflow.tracking_uri).delete_model_version(bundle.target.mlflow.registered_model, deleted)
    run_streaming_job(spark, bundle, config, available_now=True)

    rows = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions)).collect()
    assert sorted(r.end_to_end_id for r in rows) == sorted(m["end_to_end_id"] for m in valid)
    assert {r.model_version for r in rows} == {in_force} and all(r.score is not None for r in rows)
    assert any(f"recorded with model version {deleted}, which cannot be loaded" in m for m in caplog.messages)
