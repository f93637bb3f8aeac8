"""While the stream runs: a new champion and a changed rule file take effect between micro-batches,
with no restart; a broken model or rule is refused and what was in force keeps working."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.publish import log_fraud_model
from pixguard.producer import make_producer, publish
from pixguard.stream.job import start_decision_query
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration


def tiny_booster(features: list[str], seed: int):  # noqa: ANN201
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((400, len(features))), columns=features)
    labels = (frame[features[0]] + rng.normal(0, 0.1, 400) > 0.8).astype(int)
    data = lgb.Dataset(frame, labels, feature_name=features)
    return lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4, "seed": seed}, data, num_boost_round=5
    ), frame


def wait_for(condition: Callable[[], bool], timeout_s: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_model_and_rules_hot_reload_without_restart(spark, isolated, mlflow_server, tmp_path) -> None:  # noqa: ANN001
    from mlflow import MlflowClient
    from pyspark.sql import functions as F

    bundle, config = isolated
    model_name = f"pix-fraud-reload-{uuid.uuid4().hex[:6]}"
    rules_file = tmp_path / "rules.yaml"
    shutil.copy(bundle.project_root / "conf" / "rules.yaml", rules_file)
    mlflow_settings = bundle.target.mlflow.model_copy(
        update={"tracking_uri": mlflow_server.tracking_uri, "registered_model": model_name}
    )
    bundle = bundle.model_copy(update={"target": bundle.target.model_copy(update={"mlflow": mlflow_settings})})
    config = config.model_copy(
        update={
            "scoring": config.scoring.model_copy(update={"model_check_interval_s": 0}),
            "rules": config.rules.model_copy(update={"path": str(rules_file), "check_interval_s": 0}),
            "trigger_interval_s": 1.0,
        }
    )
    client = MlflowClient(mlflow_server.tracking_uri)

    def register(features: list[str], seed: int) -> str:
        booster, frame = tiny_booster(features, seed)
        version = log_fraud_model(booster, frame, mlflow_server.tracking_uri, model_name).version
        client.set_registered_model_alias(model_name, "champion", version)
        return version

    producer = make_producer(bundle.target.kafka)
    sent: list[str] = []

    def send(count: int) -> list[str]:
        messages = [
            good_message(
                end_to_end_id=f"E60746948{datetime.now(UTC):%Y%m%d%H%M}{uuid.uuid4().hex[:11]}",
                event_time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                payer_document=valid_cpf(len(sent) + i),
            )
            for i in range(count)
        ]
        publish(producer, config.topics.transactions.name, [(b"k", json.dumps(m).encode()) for m in messages])
        ids = [m["end_to_end_id"] for m in messages]
        sent.extend(ids)
        return ids

    def decided(ids: list[str]) -> dict:
        path = bundle.target.table_path("decisions")
        try:
            rows = spark.read.format("delta").load(path).where(F.col("end_to_end_id").isin(ids)).collect()
        except Exception:  # noqa: BLE001 - the table appears with the first batch
            return {}
        return {r.end_to_end_id: r for r in rows}

    v1 = register(MODEL_FEATURES, seed=1)
    query, writer = start_decision_query(spark, bundle, config)
    try:
        first = send(5)
        wait_for(lambda: len(decided(first)) == 5, what="first batch scored")
        assert {r.model_version for r in decided(first).values()} == {v1}
        assert all(r.score is not None for r in decided(first).values())
        run_id = query.runId

        v2 = register(MODEL_FEATURES, seed=2)
        second = send(5)
        wait_for(lambda: len(decided(second)) == 5, what="second batch scored")
        assert {r.model_version for r in decided(second).values()} == {v2}

        broken = register(MODEL_FEATURES[:3], seed=3)  # its signature lacks the served features
        third = send(5)
        wait_for(lambda: len(decided(third)) == 5, what="third batch scored")
        assert {r.model_version for r in decided(third).values()} == {v2}
        assert writer.models.last_error and f"/{broken} refused" in writer.models.last_error

        old_rules = next(iter(decided(third).values())).rules_version
        rules_file.write_text(
            rules_file.read_text() + '  - code: TEST_EVERYTHING\n    when: "amount_brl > 0"\n    action: REVIEW\n'
        )
        fourth = send(5)
        wait_for(lambda: len(decided(fourth)) == 5, what="fourth batch decided")
        rows = decided(fourth).values()
        assert all("TEST_EVERYTHING" in r.reasons and r.decision == "REVIEW" for r in rows)
        new_rules = next(iter(rows)).rules_version
        assert new_rules != old_rules

        rules_file.write_text(rules_file.read_text().replace('when: "amount_brl > 0"', 'when: "no_such_column > 1"'))
        fifth = send(5)
        wait_for(lambda: len(decided(fifth)) == 5, what="fifth batch decided")
        assert {r.rules_version for r in decided(fifth).values()} == {new_rules}
        assert writer.rules.last_error and "TEST_EVERYTHING" in writer.rules.last_error

        # Compiles, and runs on a row of zeros, but the payments of the batch (R$ 150.75 each) divide
        # by zero: that rule is disabled and the batch decided with the others, without a restart.
        rules_file.write_text(
            rules_file.read_text().replace(
                'when: "no_such_column > 1"', 'when: "amount_brl / (amount_brl - 150.75) > 1"'
            )
        )
        sixth = send(5)
        wait_for(lambda: len(decided(sixth)) == 5, what="sixth batch decided")
        rows = decided(sixth).values()
        assert all(r.rules_version.endswith("-without-TEST_EVERYTHING") for r in rows)
        assert all("TEST_EVERYTHING" not in r.reasons for r in rows)
        assert "TEST_EVERYTHING" in writer.rules.last_error and "is disabled" in writer.rules.last_error
        assert "DIVIDE_BY_ZERO" in writer.rules.last_error
        assert query.isActive and query.runId == run_id  # never restarted
    finally:
        query.stop()
