"""Logging a trained FraudModel to MLflow and registering it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from pixguard.model.fraud_model import TOP_FEATURES, FraudModel

# Explicit requirements: MLflow's inference of them costs seconds per model logged.
MODEL_REQUIREMENTS = ["lightgbm==4.7.0", "pandas<3", "numpy"]


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str


def log_model_in_run(
    booster: Any, example: pd.DataFrame, registered_name: str, feature_names: list[str] | None = None
) -> str:
    """Inside an active run: the pyfunc with its signature and input example; returns the version."""
    import mlflow
    from mlflow.models import infer_signature

    model = FraudModel(booster, feature_names or list(example.columns))
    sample = example.head(20)
    params = {"top_features": TOP_FEATURES, "explain_from_score": 0.0}
    signature = infer_signature(sample, model.predict(None, sample, params), params=params)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=signature,
        input_example=sample.head(3),
        registered_model_name=registered_name,
        pip_requirements=MODEL_REQUIREMENTS,
    )
    return str(info.registered_model_version)


def log_fraud_model(
    booster: Any,
    example: pd.DataFrame,
    tracking_uri: str,
    registered_name: str,
    experiment: str = "pixguard",
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    feature_names: list[str] | None = None,
) -> RegisteredModel:
    """A run of its own holding only the model (tests, tools); training logs through log_model_in_run."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics(metrics)
        if tags:
            mlflow.set_tags(tags)
        version = log_model_in_run(booster, example, registered_name, feature_names)
    return RegisteredModel(registered_name, version, run.info.run_id)
