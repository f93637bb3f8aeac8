"""Write the registry's champion as LightGBM text (what the hot path's JVM scorer reads) to a file:
for bench/realtime_stateful.py, whose Spark 4.3 environment has no MLflow.

Run: .venv/bin/python bench/champion_text.py OUT_FILE (needs `pixguard up` and a champion)."""

from __future__ import annotations

import sys
from pathlib import Path

from mlflow import MlflowClient

from pixguard.config import load_bundle
from pixguard.model.registry import CHAMPION
from pixguard.stream.serving import ModelRef, booster_text


def main() -> None:
    mlflow = load_bundle().target.mlflow
    version = MlflowClient(mlflow.tracking_uri).get_model_version_by_alias(mlflow.registered_model, CHAMPION).version
    Path(sys.argv[1]).write_text(booster_text(ModelRef(mlflow.registered_model, str(version), mlflow.tracking_uri)))
    print(f"{mlflow.registered_model} version {version} -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
