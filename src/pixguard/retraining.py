"""The retraining pipeline as separate steps, one per task of Airflow's `pix_model_retraining`:

quality_gate -> train -> register_challenger -> promotion_policy -> promote | keep_champion

Each step takes and returns plain JSON-able dicts (they travel between tasks as XComs). The work is
the model lifecycle's own code (`pixguard.model`): the training-set gate, `run_retrain`, the registry
and the promotion policy. The gate runs first on the same `as_of` the training then uses, so a
training set that fails its suite stops the DAG before anything is trained.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.model.settings import (
    TRAINING_SUITE,
    PromotionPolicy,
    TrainingSettings,
    load_promotion_policy,
    load_training_settings,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.config import Bundle, StreamingConfig

log = logging.getLogger("pixguard.retraining")


def settings_from(
    bundle: Bundle, training_file: str | None, policy_file: str | None
) -> tuple[TrainingSettings, PromotionPolicy]:
    """model_registry/ by default; a run may name other files (a backtest, a test)."""
    settings = load_training_settings(bundle.project_root, Path(training_file) if training_file else None)
    policy = load_promotion_policy(bundle.project_root, Path(policy_file) if policy_file else None)
    return settings, policy


def quality_gate(spark: SparkSession, bundle: Bundle, config: StreamingConfig, settings: TrainingSettings) -> dict:
    """Build the training set at the latest Delta versions and check it; raises TrainingSetRejected."""
    from pyspark.sql import functions as F

    from pixguard.model.gate import check_training_set
    from pixguard.model.training_set import (
        SPLIT,
        TEST,
        TRAIN,
        default_as_of,
        read_snapshot,
        split_windows,
        training_frame,
    )

    run_at = datetime.now(UTC)
    snapshot = read_snapshot(spark, bundle, config)
    as_of = default_as_of(snapshot.decisions, snapshot.labels)
    windows = split_windows(as_of, settings)
    used = training_frame(snapshot.decisions, snapshot.labels, windows, run_at).where(F.col(SPLIT).isin(TRAIN, TEST))
    report_path = bundle.state_dir / "model" / "gates" / f"{run_at:%Y%m%dT%H%M%S%fZ}.json"
    report = check_training_set(used, bundle.project_root / TRAINING_SUITE, report_path)
    return {
        "run_at": run_at.isoformat(),
        "as_of": as_of.isoformat(),
        "suite": report.suite,
        "report": str(report_path),
        **snapshot.as_params(),
    }


def train(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    settings: TrainingSettings,
    policy: PromotionPolicy,
    gate: dict,
) -> dict:
    """LightGBM on the gated window; logs the run and the model version (the policy is a later step)."""
    from pixguard.model.retrain import run_retrain

    result = run_retrain(
        spark,
        bundle,
        config,
        settings,
        policy,
        run_at=datetime.fromisoformat(gate["run_at"]),
        as_of=datetime.fromisoformat(gate["as_of"]),
        apply_policy=False,
        # the rows the gate passed, not what the stream appended since
        data_versions=(int(gate["decisions_delta_version"]), int(gate["fraud_labels_delta_version"])),
    )
    log.info("trained %s", result.summary())
    return {
        "version": result.version,
        "run_id": result.run_id,
        "train_rows": result.train_rows,
        "test_rows": result.test_rows,
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "rules_only_metrics": {k: float(v) for k, v in result.baseline_metrics.items()},
    }


def register_challenger(bundle: Bundle, trained: dict, airflow_run: str) -> dict:
    """The new version carries the `challenger` alias (moved, and recorded, if not already) and the
    Airflow run that made it."""
    from pixguard.model import registry

    name, version = bundle.target.mlflow.registered_model, str(trained["version"])
    client = registry._client(bundle.target.mlflow.tracking_uri)
    if registry.alias_version(client, name, registry.CHALLENGER) != version:
        registry.move_alias(
            client, name, registry.CHALLENGER, version, f"trained by run {trained['run_id']}", kind="register"
        )
    client.set_model_version_tag(name, version, "airflow_run", airflow_run)
    return {"name": name, "version": version, "champion": registry.alias_version(client, name, registry.CHAMPION)}


def promotion_policy(
    bundle: Bundle, config: StreamingConfig, settings: TrainingSettings, policy: PromotionPolicy, version: str
) -> dict:
    """Challenger and champion scored on the challenger's held-out window; the policy decides."""
    from pixguard.model import registry
    from pixguard.model.policy import decide_promotion

    uri, name = bundle.target.mlflow.tracking_uri, bundle.target.mlflow.registered_model
    client = registry._client(uri)
    found = registry.test_set_of(client, name, version)
    if found is None:
        return {"version": version, "promote": False, "reason": "no logged test set to check the policy on"}
    test, window = found
    review, budgets = config.scoring.review_threshold, settings.alert_budgets

    def evaluate(v: str):  # noqa: ANN202
        return registry.evaluate_version(uri, name, v, test, window, policy, budgets, review)

    challenger = evaluate(version)
    current = registry.alias_version(client, name, registry.CHAMPION)
    champion = evaluate(current) if current and current != version else None
    decision = decide_promotion(policy, challenger, champion)
    return {
        "version": version,
        "promote": decision.promote,
        "reason": decision.reason,
        "checks": decision.checks,
        "champion": champion.version if champion else None,
        "challenger_evaluation": asdict(challenger),
    }


def promote(
    bundle: Bundle, config: StreamingConfig, settings: TrainingSettings, policy: PromotionPolicy, verdict: dict
) -> dict:
    """Move `champion` through the registry, which checks the policy once more against the champion
    in force now (another promotion may have happened since the policy step)."""
    from pixguard.model import registry
    from pixguard.model.policy import Evaluation

    result = registry.promote(
        bundle.target.mlflow.tracking_uri,
        bundle.target.mlflow.registered_model,
        verdict["version"],
        policy,
        config.scoring.review_threshold,
        settings.alert_budgets,
        challenger_eval=Evaluation(**verdict["challenger_evaluation"]),
    )
    return {"version": verdict["version"], "promoted": result.promoted, "reason": result.decision.reason}


def keep_champion(bundle: Bundle, verdict: dict) -> dict:
    """The challenger stays challenger; the version says why."""
    from pixguard.model import registry

    name = bundle.target.mlflow.registered_model
    client = registry._client(bundle.target.mlflow.tracking_uri)
    client.set_model_version_tag(name, verdict["version"], "promotion_status", "refused")
    client.set_model_version_tag(name, verdict["version"], "promotion_refused_reason", verdict["reason"])
    return {"version": verdict["version"], "promoted": False, "reason": verdict["reason"]}
