"""SIGKILL the streaming and archive jobs mid-run, twice, restart them: no transaction lost, each
decided on Kafka at least once (the Kafka sink is at-least-once) and archived once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pixguard.config import Bundle, load_bundle
from pixguard.infra.producer import make_producer, publish
from pixguard.jobs import start_job_process
from pixguard.stream.job import ARCHIVE_JOB, STREAMING_JOB
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_hot_reload import wait_for
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration

BATCH_RECORDS = 150
JOBS = (STREAMING_JOB, ARCHIVE_JOB)


def start_jobs(bundle: Bundle, config_file: Path, log: Path) -> list[subprocess.Popen]:
    """Both applications, each in its own process group: a kill takes its JVM with it."""
    env = {**os.environ, "PIXGUARD_HOME": str(bundle.state_dir)}
    with log.open("ab") as out:
        return [start_job_process(bundle, name, ["--config", str(config_file)], out, env) for name in JOBS]


def kill_hard(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=30)


def test_no_loss_and_no_duplicate_after_repeated_sigkill(
    spark, isolated, mlflow_server, project_root, tmp_path
) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    bundle, config = isolated
    home = tmp_path / "home"
    config = config.model_copy(
        update={
            "source": config.source.model_copy(update={"max_offsets_per_trigger": BATCH_RECORDS}),
            "trigger_interval_s": 0.5,
            "archive_trigger_interval_s": 5.0,  # the raw landing query is killed mid-run too
        }
    )
    config_file = tmp_path / "streaming_config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    home_bundle = load_bundle(project_root, state_dir=home)
    decisions_path, raw_path = f"{home}/data/decisions", f"{home}/data/transactions_raw"
    log = tmp_path / "job.log"
    producer = make_producer(bundle.target.kafka)

    def send(count: int) -> list[str]:
        stamp = f"{datetime.now(UTC):%Y%m%d%H%M}"
        messages = [
            good_message(
                end_to_end_id=f"E60746948{stamp}{uuid.uuid4().hex[:11]}",
                event_time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                payer_document=valid_cpf(i % 300),
            )
            for i in range(count)
        ]
        publish(
            producer,
            config.topics.transactions.name,
            [(m["payer_document"].encode(), json.dumps(m).encode()) for m in messages],
        )
        return [m["end_to_end_id"] for m in messages]

    def rows(path: str) -> int:
        try:
            return spark.read.format("delta").load(path).count()
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    def decided() -> int:
        return rows(decisions_path)

    sent = send(1500)
    jobs = start_jobs(home_bundle, config_file, log)
    try:
        wait_for(lambda: decided() >= BATCH_RECORDS, timeout_s=240, what="first decisions")
        kill_hard(jobs)
        after_first_kill = decided()
        assert after_first_kill < len(sent), "the kill should land mid-run"

        sent += send(1500)
        jobs = start_jobs(home_bundle, config_file, log)
        wait_for(lambda: decided() >= after_first_kill + BATCH_RECORDS, timeout_s=240, what="progress after restart")
        kill_hard(jobs)

        jobs = start_jobs(home_bundle, config_file, log)
        wait_for(lambda: decided() >= len(sent), timeout_s=300, what="every transaction decided")
        wait_for(lambda: rows(raw_path) >= len(sent), timeout_s=120, what="every raw message landed")
        time.sleep(3)  # a duplicate would show up in the batches right after
    finally:
        for job in jobs:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGTERM)
                job.wait(timeout=60)

    decisions = spark.read.format("delta").load(decisions_path)
    ids = [r.end_to_end_id for r in decisions.select("end_to_end_id").collect()]
    assert len(ids) == len(set(ids)) == len(sent), log.read_text()[-3000:]
    assert set(ids) == set(sent)
    raw = spark.read.format("delta").load(raw_path)
    assert raw.count() == raw.select("partition", "offset").distinct().count() == len(sent)
    assert decisions.where(F.col("decision").isNull()).count() == 0
    published = read_topic(bundle.target.kafka, config.topics.decisions.name)
    assert {k for k, _ in published} == set(sent)  # a payment published twice is archived once, above
    from pixguard.stream.reconcile import reconcile

    assert home_bundle.target.table_path("decisions") == decisions_path
    reconciled = reconcile(spark, home_bundle, config)
    assert reconciled.ok and sum(p.decided for p in reconciled.partitions) == len(sent), reconciled.text()
