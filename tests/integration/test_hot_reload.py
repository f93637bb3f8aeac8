"""While the hot path runs: a new champion and a changed rule file take effect within their check
intervals, with no restart of the query; a broken model or rule is refused and what was in force
keeps deciding, with the error where the monitoring reads it."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.infra.producer import make_producer, publish
from pixguard.model.publish import log_fraud_model
from pixguard.monitoring.job_monitor import JobMonitor
from pixguard.stream.job import start_hot_path_query
from tests.hot_path_helpers import tiny_booster
from tests.integration.kafka_helpers import read_topic
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], timeout_s: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_model_and_rules_hot_reload_without_restart(spark, isolated, mlflow_server, tmp_path) -> None:  # noqa: ANN001
    from mlflow import MlflowClient

    bundle, config = isolated
    model_name = f"pix-fraud-reload-{uuid.uuid4().hex[:6]}"
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(bundle.project_root / "conf" / "rules.yaml", rules_file)
    mlflow_settings = bundle.target.mlflow.model_copy(
        update={"tracking_uri": mlflow_server.tracking_uri, "registered_model": model_name}
    )
    bundle = bundle.model_copy(update={"target": bundle.target.model_copy(update={"mlflow": mlflow_settings})})
    check_interval_s = 2.0
    config = config.model_copy(
        update={
            "scoring": config.scoring.model_copy(update={"model_check_interval_s": check_interval_s}),
            "rules": config.rules.model_copy(update={"path": str(rules_file), "check_interval_s": check_interval_s}),
        }
    )
    client = MlflowClient(mlflow_server.tracking_uri)

    def register(features: list[str], seed: int) -> str:
        booster, frame = tiny_booster(features, seed)
        version = log_fraud_model(booster, frame, mlflow_server.tracking_uri, model_name).version
        client.set_registered_model_alias(model_name, "champion", version)
        return version

    producer = make_producer(bundle.target.kafka)

    def send(count: int) -> list[str]:
        messages = [
            good_message(
                end_to_end_id=f"E60746948{datetime.now(UTC):%Y%m%d%H%M}{uuid.uuid4().hex[:11]}",
                event_time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                payer_document=valid_cpf(i),
            )
            for i in range(count)
        ]
        publish(producer, config.topics.transactions.name, [(b"k", json.dumps(m).encode()) for m in messages])
        return [m["end_to_end_id"] for m in messages]

    def decided(ids: list[str]) -> dict:
        """The decisions published for `ids` on pix.decisions, by end_to_end_id."""
        wanted = set(ids)
        return {k: v for k, v in read_topic(bundle.target.kafka, config.topics.decisions.name) if k in wanted}

    def decided_after_a_change(what: str) -> dict:
        """Payments sent once the change has had its check interval (and an executor's re-read) to take
        effect: the decisions they get are the change's."""
        time.sleep(check_interval_s + 1.5)
        ids = send(5)
        wait_for(lambda: len(decided(ids)) == 5, what=what)
        return decided(ids)

    v1 = register(MODEL_FEATURES, seed=1)
    query, publisher = start_hot_path_query(spark, bundle, config)
    # The streaming job's monitor reads the publisher: its signals raise the reload alerts.
    monitor = JobMonitor(config.monitoring, "test-streaming", [])
    monitor.watch_serving(publisher)
    try:
        first = decided_after_a_change("first payments decided")
        assert {r["model_version"] for r in first.values()} == {v1}
        assert all(r["score"] is not None for r in first.values())
        run_id = query.runId

        v2 = register(MODEL_FEATURES, seed=2)
        second = decided_after_a_change("payments after the new champion decided")
        assert {r["model_version"] for r in second.values()} == {v2}

        broken = register(MODEL_FEATURES[:3], seed=3)  # its trees lack the served features
        third = decided_after_a_change("payments after the refused champion decided")
        assert {r["model_version"] for r in third.values()} == {v2}
        assert publisher.model_error and f"/{broken} refused: the model lacks served features" in publisher.model_error
        view = monitor.view()
        assert view.signals["model_reload_failing"] == 1.0 and view.model_version == v2

        old_rules = next(iter(third.values()))["rules_version"]
        rules_file.write_text(
            rules_file.read_text() + '  - code: TEST_EVERYTHING\n    when: "amount_brl > 0"\n    action: REVIEW\n'
        )
        fourth = decided_after_a_change("payments after the new rule decided").values()
        assert all("TEST_EVERYTHING" in r["reasons"] and r["decision"] == "REVIEW" for r in fourth)
        new_rules = next(iter(fourth))["rules_version"]
        assert new_rules != old_rules

        rules_file.write_text(rules_file.read_text().replace('when: "amount_brl > 0"', 'when: "no_such_column > 1"'))
        fifth = decided_after_a_change("payments after the refused rule file decided")
        assert {r["rules_version"] for r in fifth.values()} == {new_rules}
        assert publisher.rules_error and "TEST_EVERYTHING: does not compile" in publisher.rules_error
        assert monitor.view().signals["rules_reload_failing"] == 1.0

        # Compiles, and runs on a row of zeros, but the payments (R$ 150.75 each) divide by zero: that
        # rule is disabled where it runs and the payments are decided with the others, without a restart.
        rules_file.write_text(
            rules_file.read_text().replace(
                'when: "no_such_column > 1"', 'when: "amount_brl / (amount_brl - 150.75) > 1"'
            )
        )
        sixth = decided_after_a_change("payments after the failing rule decided").values()
        assert all(r["rules_version"].endswith("-without-TEST_EVERYTHING") for r in sixth)
        assert all("TEST_EVERYTHING" not in r["reasons"] for r in sixth)
        assert query.isActive and query.runId == run_id  # never restarted
    finally:
        query.stop()
        publisher.stop()
