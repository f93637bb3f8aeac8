"""The retraining job: snapshot -> training set -> quality gate -> LightGBM -> MLflow -> challenger ->
promotion policy. `jobs/retrain.py` and `pixguard model train` call `run_retrain`; `make demo` calls
`bootstrap_champion` to have a champion before the stream starts."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.log_setup import configure_logging
from pixguard.model import registry
from pixguard.model.fraud_model import FraudModel
from pixguard.model.gate import TrainingSetRejected, check_training_set, describe
from pixguard.model.metrics import evaluate_scores
from pixguard.model.plots import write_plots
from pixguard.model.publish import log_model_in_run
from pixguard.model.settings import (
    TRAINING_SUITE,
    LightGbmSettings,
    PromotionPolicy,
    TrainingSettings,
    load_promotion_policy,
    load_training_settings,
)
from pixguard.model.train import lightgbm_params, train_booster, tune
from pixguard.model.training_set import (
    AMOUNT,
    LABEL,
    RULES_BASELINE,
    SPLIT,
    TEST,
    TRAIN,
    SplitWindows,
    default_as_of,
    read_snapshot,
    split_windows,
    training_frame,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.config import Bundle, StreamingConfig

log = logging.getLogger("pixguard.model")


class NotEnoughLabels(ValueError):
    pass


@dataclass(frozen=True)
class RetrainResult:
    run_id: str
    version: str
    windows: SplitWindows
    data_versions: dict[str, str]
    train_rows: int
    test_rows: int
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    promotion: registry.PromotionResult | None

    def summary(self) -> str:
        m, b = self.metrics, self.baseline_metrics
        verdict = (
            "not checked"
            if self.promotion is None
            else ("promoted to champion" if self.promotion.promoted else "stays challenger")
        )
        reason = f" ({self.promotion.decision.reason})" if self.promotion else ""
        return (
            f"version {self.version} (run {self.run_id}): {self.train_rows} train / {self.test_rows} test rows, "
            f"test {self.windows.test_start:%Y-%m-%d %H:%M} .. {self.windows.horizon:%Y-%m-%d %H:%M} UTC; "
            f"average precision {m['average_precision']:.4f} (rules only {b['average_precision']:.4f}), "
            f"ROC AUC {m['roc_auc']:.4f}, precision@1% {m['precision_at_1pct']:.3f}, "
            f"recall@1% {m['recall_at_1pct']:.3f}; {verdict}{reason}"
        )


def _flat_settings(settings: TrainingSettings) -> dict[str, Any]:
    flat = settings.model_dump(exclude={"lightgbm"})
    flat |= {f"lightgbm.{k}": v for k, v in settings.lightgbm.model_dump().items()}
    return {k: str(v) for k, v in flat.items()}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def run_retrain(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    settings: TrainingSettings,
    policy: PromotionPolicy,
    run_at: datetime | None = None,
    as_of: datetime | None = None,
    apply_policy: bool = True,
    data_versions: tuple[int, int] | None = None,
    version_tags: dict[str, str] | None = None,
    backtest: str | None = None,
) -> RetrainResult:
    """Train on `decisions` and `fraud_labels`, or on backtest `backtest`'s decisions and labels (a
    user's own history: its freshness is then judged at its own as-of time, not at the run's)."""
    import mlflow
    from pyspark.sql import functions as F

    run_at = run_at or datetime.now(UTC)
    tracking_uri = bundle.target.mlflow.tracking_uri
    name = bundle.target.mlflow.registered_model
    tables = None
    if backtest is not None:
        from pixguard.backtest.run import BacktestTables

        backtest_tables = BacktestTables.named(backtest)
        tables = (backtest_tables.decisions, backtest_tables.labels)
        version_tags = {**(version_tags or {}), "trained_on_backtest": backtest}
    snapshot = read_snapshot(spark, bundle, config, data_versions, tables)
    windows = split_windows(as_of or default_as_of(snapshot.decisions, snapshot.labels), settings)
    used = (
        training_frame(snapshot.decisions, snapshot.labels, windows, windows.as_of if backtest else run_at)
        .where(F.col(SPLIT).isin(TRAIN, TEST))
        .persist()
    )
    folder = bundle.state_dir / "model" / "runs" / _stamp(run_at)
    data_versions = snapshot.as_params()
    window_id = (
        f"{windows.test_start.isoformat()}..{windows.horizon.isoformat()} "
        f"decisions@v{snapshot.decisions_version} fraud_labels@v{snapshot.labels_version}"
    )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(settings.experiment)
    try:
        with mlflow.start_run(run_name=f"retrain-{_stamp(run_at)}") as run:
            mlflow.log_params(data_versions | windows.as_params() | _flat_settings(settings))
            mlflow.set_tags(
                {k: v for k, v in data_versions.items() if k.endswith("version")} | {"registered_model": name}
            )
            began = time.monotonic()
            _gate(used, bundle.project_root / TRAINING_SUITE, folder / "training_set_quality.json")
            log.info("training set passed its quality gate in %.1f s", time.monotonic() - began)
            data = used.select("event_time", *MODEL_FEATURES, LABEL, RULES_BASELINE, SPLIT).toPandas()
            train, test = data[data[SPLIT] == TRAIN], data[data[SPLIT] == TEST]
            _enough_labels(train, test, settings)
            log.info("training set: %d train / %d test rows read", len(train), len(test))
            chosen = _tuned(train, settings)
            booster = train_booster(train, train[LABEL], chosen)
            mlflow.log_params(
                {"scale_pos_weight": lightgbm_params(train[LABEL].to_numpy(), chosen)["scale_pos_weight"]}
            )
            scores = FraudModel(booster).predict(None, test[MODEL_FEATURES])["score"].to_numpy()
            budgets, review = settings.alert_budgets, config.scoring.review_threshold
            metrics = evaluate_scores(test[LABEL], scores, test[AMOUNT], budgets, review)
            baseline = evaluate_scores(test[LABEL], test[RULES_BASELINE], test[AMOUNT], budgets)
            mlflow.log_metrics(
                metrics
                | {f"rules_baseline_{k}": v for k, v in baseline.items()}
                | {"train_rows": len(train), "train_frauds": int(train[LABEL].sum())}
            )
            importance = dict(zip(MODEL_FEATURES, booster.feature_importance("gain").tolist(), strict=True))
            curves = {"model": scores, "rules only": test[RULES_BASELINE].to_numpy(dtype=float)}
            for path in write_plots(folder / "plots", test[LABEL].to_numpy(dtype=int), curves, importance):
                mlflow.log_artifact(str(path), artifact_path="plots")
            registry.log_test_set(test, window_id, folder)
            version = log_model_in_run(booster, test[MODEL_FEATURES].head(20), name)
    finally:
        used.unpersist()
    client = registry.registry_client(tracking_uri)
    registry.move_alias(
        client, name, registry.CHALLENGER, version, f"trained by run {run.info.run_id}", kind="register"
    )
    for key, value in (version_tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    promotion = None
    if apply_policy:
        promotion = registry.promote(tracking_uri, name, version, policy, review, budgets)
    return RetrainResult(
        run_id=run.info.run_id,
        version=version,
        windows=windows,
        data_versions=data_versions,
        train_rows=len(train),
        test_rows=len(test),
        metrics=metrics,
        baseline_metrics=baseline,
        promotion=promotion,
    )


def _tuned(train: pd.DataFrame, settings: TrainingSettings) -> LightGbmSettings:
    """The LightGBM settings to train with: `lightgbm`, or what tuning chose on the train window. A
    train window too small to split (no fraud in its last days) is trained as given, and the run says so."""
    import mlflow

    if settings.tuning is None:
        return settings.lightgbm
    try:
        tuned = tune(train, train[LABEL], train["event_time"], settings.lightgbm, settings.tuning)
    except ValueError as exc:
        log.warning("%s: training with the lightgbm settings as given", exc)
        mlflow.set_tag("tuning", f"skipped: {exc}"[:500])
        return settings.lightgbm
    log.info("tuning chose %s (validation AP %.4f)", tuned.settings, tuned.validation_average_precision)
    mlflow.set_tag("tuning", f"{len(tuned.tried)} candidates on {tuned.validation_rows} validation rows")
    mlflow.log_params({f"chosen.{k}": v for k, v in tuned.settings.model_dump().items()})
    mlflow.log_metric("validation_average_precision", tuned.validation_average_precision)
    return tuned.settings


def _gate(df: Any, suite: Path, report_path: Path) -> None:
    """Stops the run on a failing gate; the report goes to the state folder and to the run."""
    import mlflow

    try:
        check_training_set(df, suite, report_path)
    except TrainingSetRejected as rejected:
        mlflow.log_artifact(str(rejected.report_path), artifact_path="quality")
        mlflow.set_tags(
            {"quality_gate": "failed", "quality_gate_failed": "; ".join(describe(o) for o in rejected.failed)[:4000]}
        )
        raise
    mlflow.log_artifact(str(report_path), artifact_path="quality")
    mlflow.set_tag("quality_gate", "passed")


def _enough_labels(train: pd.DataFrame, test: pd.DataFrame, settings: TrainingSettings) -> None:
    for split, rows in ((TRAIN, train), (TEST, test)):
        frauds = int(np.asarray(rows[LABEL]).sum())
        if frauds < settings.min_train_frauds:
            raise NotEnoughLabels(
                f"{split} window holds {frauds} labelled frauds in {len(rows)} rows; "
                f"at least {settings.min_train_frauds} are needed (model_registry/training.yaml: min_train_frauds)"
            )


def bootstrap_champion(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> RetrainResult | None:
    """`make demo`: train on the history and make it champion. None when a champion exists already.
    If the policy refuses the first model, it is still made champion, as a recorded forced move."""
    name = bundle.target.mlflow.registered_model
    from mlflow.exceptions import MlflowException

    try:
        if registry.alias_version(registry.registry_client(bundle.target.mlflow.tracking_uri), name, registry.CHAMPION):
            return None
    except MlflowException:
        pass  # no registered model yet
    settings = load_training_settings(bundle.project_root)
    policy = load_promotion_policy(bundle.project_root)
    result = run_retrain(spark, bundle, config, settings, policy)
    if result.promotion is not None and not result.promotion.promoted:
        forced = registry.promote(
            bundle.target.mlflow.tracking_uri,
            name,
            result.version,
            policy,
            config.scoring.review_threshold,
            settings.alert_budgets,
            force=True,
            reason="bootstrap: first champion for the demo",
        )
        result = RetrainResult(**{**result.__dict__, "promotion": forced})
    return result


def promote_challenger(
    bundle: Bundle, config: StreamingConfig, training_file: str | None = None, policy_file: str | None = None
) -> dict:
    """The step after training in Airflow's `pix_retrain` (what `pixguard model promote` does): the
    promotion policy on the version behind `challenger` (model_registry/ by default; a run may name
    other files, as the job was given). A refusal is an outcome, tagged on the version, not a failure."""
    uri, name = bundle.target.mlflow.tracking_uri, bundle.target.mlflow.registered_model
    settings = load_training_settings(bundle.project_root, Path(training_file) if training_file else None)
    policy = load_promotion_policy(bundle.project_root, Path(policy_file) if policy_file else None)
    version = registry.alias_version(registry.registry_client(uri), name, registry.CHALLENGER)
    if version is None:
        raise registry.RegistryError(f"{name} has no {registry.CHALLENGER} version to promote")
    try:
        result = registry.promote(uri, name, version, policy, config.scoring.review_threshold, settings.alert_budgets)
    except registry.RegistryError as exc:  # already champion: nothing to move
        return {"version": version, "promoted": False, "reason": str(exc)}
    return {"version": version, "promoted": result.promoted, "reason": result.decision.reason}


# ------------------------------------------------------------------ entry point (jobs/retrain.py)


def retrain_entry(argv: list[str] | None = None) -> int:
    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.infra.spark import build_spark_session

    parser = argparse.ArgumentParser(description="Retrain the fraud model and apply the promotion policy")
    parser.add_argument("--target", default=None, help="bundle target (default: PIXGUARD_TARGET, else the default)")
    parser.add_argument("--config", default=None, help="streaming config file (default: conf/streaming_config.yaml)")
    parser.add_argument("--no-promote", action="store_true", help="register the challenger only")
    parser.add_argument(
        "--training-settings", default="", help="instead of model_registry/training.yaml (empty: that file)"
    )
    parser.add_argument("--promotion-policy", default="", help="instead of the promotion policy file (empty: it)")
    parser.add_argument("--airflow-run", default="", help="the Airflow run that trains: tagged on the new version")
    parser.add_argument(
        "--from-backtest", default=None, metavar="NAME", help="train on backtest NAME's decisions and labels"
    )
    args = parser.parse_args(argv)
    configure_logging()
    bundle = load_bundle(target=args.target)
    config = load_streaming_config(bundle.project_root, path=Path(args.config) if args.config else None)
    root = bundle.project_root
    settings = load_training_settings(root, Path(args.training_settings) if args.training_settings else None)
    policy = load_promotion_policy(root, Path(args.promotion_policy) if args.promotion_policy else None)
    spark = build_spark_session(bundle, "retrain")
    try:
        result = run_retrain(
            spark,
            bundle,
            config,
            settings,
            policy,
            apply_policy=not args.no_promote,
            version_tags={"airflow_run": args.airflow_run} if args.airflow_run else None,
            backtest=args.from_backtest,
        )
    except TrainingSetRejected as rejected:
        print(f"{rejected}\nreport: {rejected.report_path}", file=sys.stderr)
        return 3
    except NotEnoughLabels as exc:
        print(f"not trained: {exc}", file=sys.stderr)
        return 3
    print(result.summary())
    return 0
