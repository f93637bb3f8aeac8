"""The model lifecycle on simulated history run through the real decision pipeline, a real Spark and
a real MLflow registry: retraining, the label-maturity horizon, the quality gate, promotion and
rollback."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pixguard.backtest.report import backtest_report, log_report, render_backtest_report, report_input
from pixguard.backtest.run import run_backtest
from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model import registry
from pixguard.model.gate import TrainingSetRejected
from pixguard.model.retrain import run_retrain
from pixguard.model.settings import Guardrails, LightGbmSettings, PromotionPolicy, TrainingSettings
from pixguard.model.training_set import IMMATURE, SPLIT, TEST, TRAIN, read_snapshot, split_windows, training_frame
from pixguard.simulator.backtest_file import write_backtest_file
from pixguard.simulator.runs import run_history
from pixguard.simulator.settings import (
    HistorySettings,
    LabelSettings,
    PopulationSettings,
    ScenarioShares,
    SimulatorConfig,
)

pytestmark = pytest.mark.integration

HISTORY_DAYS = 12
# Compressed against conf/simulator.yaml so that 12 small days hold a learnable set: reports come
# within hours (not a 72 h median), so the test window is labelled, and frauds are three times as
# frequent (still about 2%).
SIMULATOR = SimulatorConfig(
    population=PopulationSettings(persons=3_000, companies=300),
    history=HistorySettings(transactions_per_day=6_000),
    scenarios=ScenarioShares(**{name: 3 * share for name, share in ScenarioShares().items()}),
    labels=LabelSettings(report_probability=0.9, delay_median_hours=6, delay_sigma=0.8, min_delay_hours=0.5),
)
# Shorter windows than model_registry/training.yaml, so 12 days of history hold train, gap and test.
SETTINGS = TrainingSettings(
    label_maturity_days=2,
    test_days=4,
    gap_days=0.5,
    min_train_frauds=10,
    lightgbm=LightGbmSettings(num_boost_round=150, num_leaves=15),
)
# A first champion needs AP 0.2: the hour-only model of the forced-promotion test stays below it.
# The scoring-time guardrail is wall-clock: generous here, so the test never depends on machine load.
POLICY = PromotionPolicy(
    min_improvement=0.02,
    min_primary_without_champion=0.2,
    guardrails=Guardrails(max_batch_scoring_ms=120_000),
)


HISTORY_END = pd.Timestamp("2026-11-23 00:00", tz="UTC")


@pytest.fixture(scope="module")
def mlflow_server(bundle, tmp_path_factory):  # noqa: ANN001, ANN201
    """Shadows the session fixture for this module only: on a loaded 2-core machine MLflow 3's server
    has taken over the session fixture's 90 s to start. Drop this once tests/conftest.py waits longer."""
    from pixguard.stack.mlflow_server import MlflowServer
    from pixguard.stack.processes import free_port

    server = MlflowServer(tmp_path_factory.mktemp("model-lifecycle-mlflow"), free_port())
    try:
        server.start(timeout_s=300)
        yield server
    finally:
        server.stop()  # also after a failed start, so no server outlives the tests


@pytest.fixture(scope="module")
def lifecycle(bundle, streaming_config, mlflow_server, spark, tmp_path_factory):  # noqa: ANN001, ANN201
    """A bundle of its own (tables, state, registered model name) holding simulated history. MLflow is
    asked for before Spark: its server starts faster without a JVM starting beside it."""
    root = tmp_path_factory.mktemp("model-lifecycle")
    target = bundle.target.model_copy(
        update={
            "storage_root": str(root / "data"),
            "checkpoint_root": str(root / "checkpoints"),
            "mlflow": bundle.target.mlflow.model_copy(
                update={
                    "tracking_uri": mlflow_server.tracking_uri,
                    "registered_model": f"pix-fraud-test-{uuid.uuid4().hex[:6]}",
                }
            ),
        }
    )
    own = bundle.model_copy(update={"target": target, "state_dir": root / "state"})
    # A fixed end: the seeded simulator then writes the same days on every run, so the model-versus-rules
    # comparison is made on the same data each time (with `now`, the lead varied from run to run).
    end = HISTORY_END
    history = run_history(own, streaming_config, SIMULATOR, days=HISTORY_DAYS, seed=5, end=end)
    assert history.decided == history.history.transactions
    return own, streaming_config, end


@pytest.fixture(scope="module")
def retrained(lifecycle, spark):  # noqa: ANN001, ANN201
    bundle, config, _ = lifecycle
    return run_retrain(spark, bundle, config, SETTINGS, POLICY, apply_policy=False)


def test_model_beats_the_rules_only_baseline_on_the_held_out_window(retrained) -> None:  # noqa: ANN001
    model, rules = retrained.metrics, retrained.baseline_metrics
    assert retrained.test_rows > 5_000 and model["frauds"] >= 20
    # The rules were written for these scenarios and already rank well (AP 0.83 on these days). The
    # model must add a clear 0.01 AP (it adds 0.026 here) and catch more frauds within the same alert
    # budget. With a history ending at the time of the run the lead varied from 0.005 to 0.03 between
    # runs, hence the fixed HISTORY_END.
    model_ap, rules_ap = model["average_precision"], rules["average_precision"]
    assert model_ap >= rules_ap + 0.01, (model, rules)
    assert model["recall_at_1pct"] > rules["recall_at_1pct"], (model, rules)


def test_the_run_records_data_versions_windows_metrics_and_plots(lifecycle, retrained) -> None:  # noqa: ANN001
    from mlflow import MlflowClient

    bundle, _, _ = lifecycle
    client = MlflowClient(bundle.target.mlflow.tracking_uri)
    run = client.get_run(retrained.run_id)
    assert run.data.params["decisions_delta_version"] == retrained.data_versions["decisions_delta_version"]
    assert run.data.tags["fraud_labels_delta_version"] == retrained.data_versions["fraud_labels_delta_version"]
    assert run.data.params["maturity_horizon"] == retrained.windows.horizon.isoformat()
    for metric in ("average_precision", "roc_auc", "precision_at_0_5pct", "recall_at_1pct"):
        assert metric in run.data.metrics
    assert "value_detected_per_alert_brl_at_1pct" in run.data.metrics
    plots = {Path(a.path).name for a in client.list_artifacts(retrained.run_id, "plots")}
    assert plots == {"precision_recall.png", "roc.png", "score_distribution.png", "feature_importance.png"}
    version = client.get_model_version(bundle.target.mlflow.registered_model, retrained.version)
    assert version.run_id == retrained.run_id
    assert registry.alias_version(client, bundle.target.mlflow.registered_model, "challenger") == retrained.version


def test_no_transaction_newer_than_the_label_maturity_horizon_is_used(lifecycle, retrained, spark) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    bundle, config, end = lifecycle
    snapshot = read_snapshot(spark, bundle, config)
    windows = split_windows(retrained.windows.as_of, SETTINGS)
    assert windows.horizon <= end.to_pydatetime() - timedelta(days=SETTINGS.label_maturity_days)
    frame = training_frame(snapshot.decisions, snapshot.labels, windows, end.to_pydatetime())
    used = frame.where(F.col(SPLIT).isin(TRAIN, TEST))
    newest_used = used.agg(F.max("event_time")).first()[0]
    assert newest_used.astimezone(windows.horizon.tzinfo) < windows.horizon
    assert frame.where(F.col(SPLIT) == IMMATURE).count() > 1_000  # there was recent traffic to leave out
    # What the retrain job trained and tested on is exactly the rows before the horizon, by window.
    decisions = snapshot.decisions
    before_horizon = decisions.where(F.col("event_time") < F.lit(windows.horizon))
    in_test = before_horizon.where(F.col("event_time") >= F.lit(windows.test_start)).count()
    in_train = decisions.where(F.col("event_time") < F.lit(windows.train_end)).count()
    assert (retrained.test_rows, retrained.train_rows) == (in_test, in_train)


def test_the_quality_gate_stops_a_corrupted_training_set_and_names_the_expectation(lifecycle, spark) -> None:  # noqa: ANN001
    from mlflow import MlflowClient
    from pyspark.sql import functions as F

    bundle, config, _ = lifecycle
    corrupted = "decisions_corrupted"
    (
        spark.read.format("delta")
        .load(bundle.target.table_path(config.tables.decisions))
        .withColumn("amount_brl", F.when(F.rand(3) < 0.05, F.lit(None)).otherwise(F.col("amount_brl")))
        .write.format("delta")
        .save(bundle.target.table_path(corrupted))
    )
    config = config.model_copy(update={"tables": config.tables.model_copy(update={"decisions": corrupted})})
    name = bundle.target.mlflow.registered_model
    client = MlflowClient(bundle.target.mlflow.tracking_uri)
    versions_before = len(client.search_model_versions(f"name='{name}'"))

    with pytest.raises(TrainingSetRejected) as rejected:
        run_retrain(spark, bundle, config, SETTINGS, POLICY)

    failed = {(o.expectation, o.column) for o in rejected.value.failed}
    assert ("expect_column_values_to_not_be_null", "amount_brl_value") in failed
    assert "expect_column_values_to_not_be_null(amount_brl_value)" in str(rejected.value)
    report = json.loads(rejected.value.report_path.read_text())
    assert rejected.value.report_path.is_relative_to(bundle.state_dir)
    assert report["success"] is False and any("amount_brl_value" in f for f in report["failed"])
    run = client.search_runs(
        [client.get_experiment_by_name(SETTINGS.experiment).experiment_id],
        "tags.quality_gate = 'failed'",
        order_by=["attributes.start_time DESC"],
    )[0]
    assert run.info.status == "FAILED"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "quality")] == ["quality/training_set_quality.json"]
    assert len(client.search_model_versions(f"name='{name}'")) == versions_before  # nothing registered


def _weak_version(bundle, retrained, client) -> str:  # noqa: ANN001
    """A model that only knows the hour of the day, logged with the retrained version's test set,
    so the policy compares it on the same window."""
    import lightgbm as lgb
    import mlflow

    from pixguard.model.publish import log_model_in_run

    name = bundle.target.mlflow.registered_model
    test, window = registry.test_set_of(client, name, retrained.version)
    only_hour = test[MODEL_FEATURES].assign(**{f: 0.0 for f in MODEL_FEATURES if f != "local_hour"})
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 2, "seed": 1},
        lgb.Dataset(only_hour, test["label"].to_numpy()),
        num_boost_round=2,
    )
    mlflow.set_tracking_uri(bundle.target.mlflow.tracking_uri)
    mlflow.set_experiment(SETTINGS.experiment)
    with mlflow.start_run(run_name="weak"):
        version = log_model_in_run(booster, test[MODEL_FEATURES].head(20), name)
        registry.log_test_set(test, window, bundle.state_dir / f"weak-{uuid.uuid4().hex[:6]}")
    return version


def test_promotion_policy_forced_promotion_and_rollback(lifecycle, retrained) -> None:  # noqa: ANN001
    from mlflow import MlflowClient

    bundle, config, _ = lifecycle
    uri, name = bundle.target.mlflow.tracking_uri, bundle.target.mlflow.registered_model
    client = MlflowClient(uri)
    review = config.scoring.review_threshold
    weak = _weak_version(bundle, retrained, client)

    # A forced promotion is recorded as such, with the reason given and the policy's verdict.
    forced = registry.promote(uri, name, weak, POLICY, review, force=True, reason="incident drill")
    assert forced.promoted and forced.move.forced
    assert "incident drill" in forced.move.reason and "policy said" in forced.move.reason
    assert registry.alias_version(client, name, "champion") == weak

    # The retrained model beats that champion on the same window: promoted by the policy.
    better = registry.promote(uri, name, retrained.version, POLICY, review)
    assert better.promoted and not better.move.forced
    assert better.champion.version == weak and better.champion.window == better.challenger.window
    assert better.challenger.metrics["average_precision"] > better.champion.metrics["average_precision"] + 0.02
    assert registry.alias_version(client, name, "champion") == retrained.version

    # A worse challenger is refused; the reason is a tag on its version and the champion stays.
    worse = _weak_version(bundle, retrained, client)
    refused = registry.promote(uri, name, worse, POLICY, review)
    assert not refused.promoted
    tags = client.get_model_version(name, worse).tags
    assert tags["promotion_status"] == "refused"
    assert tags["promotion_refused_reason"].startswith("refused: average_precision")
    assert registry.alias_version(client, name, "champion") == retrained.version

    # Rollback restores the champion the current one replaced, and is recorded too.
    back = registry.rollback(uri, name, reason="drill over")
    assert (back.version, back.from_version, back.kind) == (weak, retrained.version, "rollback")
    assert registry.alias_version(client, name, "champion") == weak
    champion_moves = [
        (m.kind, m.version, m.forced) for m in registry.alias_history(client, name) if m.alias == "champion"
    ]
    assert champion_moves == [("promote", weak, True), ("promote", retrained.version, False), ("rollback", weak, False)]
    assert np.isfinite(better.challenger.batch_scoring_ms)
    # `pixguard model list` shows where the aliases point.
    listed = {row.version: row.aliases for row in registry.list_versions(uri, name)}
    assert "champion" in listed[str(weak)] and "champion" not in listed[str(retrained.version)]


def test_a_backtest_of_the_history_decides_as_the_backfill_trains_a_model_and_reports(  # noqa: ANN001
    lifecycle, retrained, spark, tmp_path
) -> None:
    """The same history as a user's file: backtest (same features as the backfill's), a model trained
    from the backtest that beats the rules on its own held-out window, and the report in MLflow."""
    from mlflow import MlflowClient

    bundle, config, _ = lifecycle
    tables = config.tables

    def table(name: str) -> pd.DataFrame:
        return spark.read.format("delta").load(bundle.target.table_path(name)).toPandas()

    truth, reports = table(tables.transactions_truth), table(tables.fraud_labels)
    file = write_backtest_file(truth, reports, tmp_path / "history.parquet")
    keys, marks = tmp_path / "keys.parquet", tmp_path / "marks.parquet"
    table(tables.key_registry).to_parquet(keys)
    table(tables.dict_marks).to_parquet(marks)
    summary = run_backtest(
        spark, bundle, config, file, "history", retrained.version, dict_keys=keys, dict_marks=marks, progress=False
    )
    assert summary.payments == len(truth) and summary.frauds == int(truth["is_fraud"].sum())

    backtested = table("backtest_history").set_index("end_to_end_id").sort_index()
    backfilled = table(tables.decisions).set_index("end_to_end_id").sort_index()
    assert list(backtested.index) == list(backfilled.index)
    for feature in ("payer_tx_count_10m", "payee_distinct_payers_1h", "payee_key_age_days", "payee_dict_marked"):
        pd.testing.assert_series_equal(backtested[feature], backfilled[feature], check_names=False)
    assert backtested["model_version"].eq(retrained.version).all() and backtested["score"].notna().all()

    trained = run_retrain(spark, bundle, config, SETTINGS, POLICY, apply_policy=False, backtest="history")
    model, rules = trained.metrics, trained.baseline_metrics
    assert model["average_precision"] >= rules["average_precision"] + 0.01, (model, rules)
    client = MlflowClient(bundle.target.mlflow.tracking_uri)
    version = client.get_model_version(bundle.target.mlflow.registered_model, trained.version)
    assert version.tags["trained_on_backtest"] == "history"
    assert client.get_run(trained.run_id).data.params["decisions_path"].endswith("backtest_history")

    report = backtest_report(report_input(spark, bundle, "history"), "history")
    run_id = log_report(bundle, report, render_backtest_report(report), retrained.version)
    assert run_id == retrained.run_id
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "backtests")}
    assert logged == {"backtest_history.html"}
    both = report.at_budgets.set_index(["ranking", "budget"]).loc[("model", 0.01)]
    assert client.get_run(run_id).data.metrics["backtest_history_model_recall_at_1pct"] == pytest.approx(both.recall)
