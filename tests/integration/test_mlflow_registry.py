"""The MLflow tracking server with its registry: log, register, alias, load back by alias."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_model_is_registered_aliased_champion_and_loaded_back(mlflow_server) -> None:  # noqa: ANN001
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    rng = np.random.default_rng(7)
    features = pd.DataFrame(
        {"amount_brl": rng.lognormal(4, 1, 400), "payer_tx_1h": rng.integers(0, 9, 400).astype(float)}
    )
    labels = (features["payer_tx_1h"] > 6).astype(int)
    model = LogisticRegression().fit(features, labels)
    name = f"pix-fraud-test-{uuid.uuid4().hex[:8]}"

    mlflow.set_experiment("pixguard-tests")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=infer_signature(features, model.predict_proba(features)[:, 1]),
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient(mlflow_server.tracking_uri)
    version = info.registered_model_version
    client.set_registered_model_alias(name, "champion", version)

    assert client.get_model_version_by_alias(name, "champion").version == str(version)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    # The artifact went through the server's artifact proxy into the server's own store.
    assert info.artifact_path.startswith("models:/") or client.get_model_version(name, version).source
    assert any((mlflow_server.home / "mlflow" / "artifacts").rglob("MLmodel"))
