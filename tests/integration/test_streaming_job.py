"""The streaming job end to end on the real broker and Spark: every record lands exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pixguard.producer import make_producer, publish
from pixguard.rules import parse_rules
from pixguard.stream.job import run_streaming_job
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_validate import good_message

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
            payer_document=f"{11144477700 + i:011d}",
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
