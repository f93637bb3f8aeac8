"""`FraudModel`: a LightGBM booster behind the MLflow pyfunc interface.

predict() takes the MODEL_FEATURES columns and returns a DataFrame with `score` (probability of
fraud) and `top_features` (the features that pushed this score up the most, from LightGBM's
per-row SHAP contributions) - so every decision can say why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

try:
    import mlflow.pyfunc

    _Base = mlflow.pyfunc.PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency; this keeps the class importable in tools
    _Base = object

from pixguard.features.model_input import MODEL_FEATURES

TOP_FEATURES = 3


class FraudModel(_Base):
    def __init__(self, booster: Any, feature_names: list[str] | None = None) -> None:
        self.booster = booster
        self.feature_names = feature_names or list(MODEL_FEATURES)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        matrix = model_input.reindex(columns=self.feature_names).astype("float64").to_numpy()
        scores = self.booster.predict(matrix)
        contributions = self.booster.predict(matrix, pred_contrib=True)[:, :-1]  # last column is the bias
        top_n = int((params or {}).get("top_features", TOP_FEATURES))
        order = np.argsort(-contributions, axis=1)[:, :top_n]
        names = np.asarray(self.feature_names)
        top = [[names[j] for j in row if contributions[i, j] > 0] for i, row in enumerate(order)]
        return pd.DataFrame({"score": scores.astype("float64"), "top_features": top})
