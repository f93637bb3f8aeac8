"""Logging a trained FraudModel to MLflow and registering it (issue 5 builds training around this)."""

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
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    model = FraudModel(booster, feature_names or list(example.columns))
    sample = example.head(20)
    signature = infer_signature(sample, model.predict(None, sample), params={"top_features": TOP_FEATURES})
    with mlflow.start_run() as run:
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics(metrics)
        if tags:
            mlflow.set_tags(tags)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=signature,
            input_example=sample.head(3),
            registered_model_name=registered_name,
            pip_requirements=MODEL_REQUIREMENTS,
            code_paths=None,
        )
    return RegisteredModel(registered_name, str(info.registered_model_version), run.info.run_id)
