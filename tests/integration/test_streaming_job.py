"""The streaming job end to end on the real broker and Spark: every record is decided or quarantined,
once, on Kafka and in the archive, and the hot path's plan is the JVM's alone."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pixguard.domain.rules import parse_rules
from pixguard.infra.producer import make_producer, publish
from pixguard.stream.job import run_streaming_job
from pixguard.stream.reconcile import reconcile
from tests.integration.job_helpers import decide_and_archive
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_validate import encode, good_message, valid_cpf

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

    decide_and_archive(spark, bundle, config)

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

    reconciled = reconcile(spark, bundle, config)
    assert reconciled.ok, reconciled.text()
    assert sum(p.consumed for p in reconciled.partitions) == consumed
    assert sum(p.decided for p in reconciled.partitions) == len(valid)
    assert sum(p.quarantined for p in reconciled.partitions) == len(malformed) + len(repeats)
    # A decision lost from the archive and another archived twice: reconciliation names both offsets.
    lost, twice = decisions.orderBy("partition", "offset").select("partition", "offset").take(2)
    table = DeltaTable.forPath(spark, bundle.target.table_path("decisions"))
    table.delete((F.col("partition") == lost.partition) & (F.col("offset") == lost.offset))
    decisions.where((F.col("partition") == twice.partition) & (F.col("offset") == twice.offset)).write.format(
        "delta"
    ).mode("append").save(bundle.target.table_path("decisions"))
    broken = {p.partition: p for p in reconcile(spark, bundle, config).partitions}
    assert not reconcile(spark, bundle, config).ok
    assert (lost.offset, lost.offset) in broken[lost.partition].without_outcome
    assert broken[twice.partition].repeated == [(twice.offset, twice.offset)]


def test_a_hot_path_batch_replayed_after_its_publish_is_published_again_and_archived_once(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
) -> None:
    """The job dies after the hot path published batch 0 and before its checkpoint recorded it: the
    replay starts from the same state and seed, so it publishes the same decisions again (Kafka's sink
    is at-least-once); the archive keeps the first outcome of each payment, and nothing is taken for
    a repeat of itself."""
    from pathlib import Path

    from pixguard.stream.hot_path import HOT_PATH_QUERY

    bundle, config = isolated
    valid = valid_set(datetime.now(UTC))
    records = [(m["payer_document"].encode(), json.dumps(m).encode()) for m in valid]
    assert publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records) == len(records)
    run_streaming_job(spark, bundle, config, available_now=True)
    first = {k: v for k, v in read_topic(bundle.target.kafka, config.topics.decisions.name)}
    assert sorted(first) == sorted(m["end_to_end_id"] for m in valid)

    checkpoint = Path(bundle.target.checkpoint_path(HOT_PATH_QUERY))
    commits = checkpoint / "commits"
    assert (commits / "0").exists()
    # Back to the moment after batch 0's publish: no batch recorded as done, none planned after it
    # (an available-now run also runs a batch without data for the state's timers).
    for done in commits.iterdir():
        done.unlink()
    for planned in (checkpoint / "offsets").iterdir():
        if planned.name.lstrip(".").split(".")[0] != "0":
            planned.unlink()
    decide_and_archive(spark, bundle, config)

    published = read_topic(bundle.target.kafka, config.topics.decisions.name)
    assert sorted(k for k, _ in published) == sorted([m["end_to_end_id"] for m in valid] * 2)
    for key, again in published:
        once = first[key]
        assert (again["decision"], again["reasons"], again["rules_version"]) == (
            once["decision"],
            once["reasons"],
            once["rules_version"],
        )
    assert first[e2e_id(5)]["decision"] == "REVIEW" and "VELOCITY_BURST" in first[e2e_id(5)]["reasons"]

    decisions = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions))
    assert sorted(r.end_to_end_id for r in decisions.collect()) == sorted(first)  # one row each
    quarantine_path = Path(bundle.target.table_path(config.tables.quarantine))
    quarantined = spark.read.format("delta").load(str(quarantine_path)).count() if quarantine_path.exists() else 0
    assert quarantined == 0  # no payment of the replay was taken for a repeat of its first attempt
    assert (commits / "0").exists()


def test_the_hot_path_plan_has_no_python_evaluation_and_no_delta_relation(
    spark,
    isolated,
    mlflow_server,  # noqa: ANN001
) -> None:
    """What the hot path runs per micro-batch is the JVM's: no Python UDF or foreachBatch, no Delta read
    (the seeds are Parquet copies inside the checkpoint) and no Delta write."""
    import time

    from pixguard.stream.job import start_hot_path_query

    bundle, config = isolated
    valid = valid_set(datetime.now(UTC))
    records = [(m["payer_document"].encode(), json.dumps(m).encode()) for m in valid]
    publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records)
    query, publisher = start_hot_path_query(spark, bundle, config)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(read_topic(bundle.target.kafka, config.topics.decisions.name)) < 20:
            time.sleep(1)
        execution = query._jsq.streamingQuery().lastExecution()
        assert execution is not None
        plans = [execution.analyzed().treeString(), execution.executedPlan().treeString()]
    finally:
        query.stop()
        publisher.stop()
    assert len(read_topic(bundle.target.kafka, config.topics.decisions.name)) == 20
    assert plans[1].count("TransformWithState") == 3 and "KafkaStreamingWrite" in plans[1]
    for plan in plans:
        for python_node in ("Python", "Pandas", "Arrow", "ForeachBatch"):
            assert python_node not in plan, f"{python_node} in the hot path plan:\n{plan}"
        assert "delta" not in plan.lower(), f"a Delta relation in the hot path plan:\n{plan}"


def test_sigterm_stops_both_jobs_with_exit_code_0_and_no_stack_trace_in_their_logs(
    isolated,
    mlflow_server,
    tmp_path,  # noqa: ANN001
) -> None:
    """The demo's end and the supervisor stop the jobs with SIGTERM: their queries stop between batches,
    and the logs say so instead of showing the traces of a session killed under them."""
    from pixguard.config import load_bundle
    from pixguard.jobs import start_job_process
    from pixguard.stream.job import ARCHIVE_JOB, STREAMING_JOB

    bundle, config = isolated
    monitoring = config.monitoring.model_copy(update={"metrics_port": 0, "archive_metrics_port": 0})
    config = config.model_copy(update={"monitoring": monitoring, "archive_trigger_interval_s": 5.0})
    config_file = tmp_path / "streaming_config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    home = load_bundle(Path(__file__).resolve().parents[2], state_dir=tmp_path / "home")
    env = {**os.environ, "PIXGUARD_HOME": str(home.state_dir)}
    logs = {name: tmp_path / f"{name}.log" for name in (STREAMING_JOB, ARCHIVE_JOB)}
    jobs = {}
    for name, log_path in logs.items():
        with log_path.open("wb") as log:
            jobs[name] = start_job_process(home, name, ["--config", str(config_file)], log, env)
    decisions = Path(home.target.table_path(config.tables.decisions))
    try:
        payments = valid_set(datetime.now(UTC))[7:12]
        records = [(b"60746948:0001:123456", encode(p)) for p in payments]
        publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records)
        deadline = time.monotonic() + 300
        while (
            len(read_topic(bundle.target.kafka, config.topics.decisions.name, 3)) < len(payments)
            or not (decisions / "_delta_log" / "00000000000000000000.json").exists()
        ):
            for name, job in jobs.items():
                assert job.poll() is None, logs[name].read_text()[-4000:]
            assert time.monotonic() < deadline, "no decisions on Kafka and in Delta within 300 s"
            time.sleep(2)
        for job in jobs.values():
            job.terminate()
        for name, job in jobs.items():
            assert job.wait(timeout=120) == 0, logs[name].read_text()[-4000:]
    finally:
        for job in jobs.values():
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
    for log_path in logs.values():
        text = log_path.read_text()
        assert "stopped on SIGTERM" in text
        assert "Traceback" not in text and "Exception" not in text, text[-4000:]
