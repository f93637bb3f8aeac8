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
        """`top_features` is null for a score below `explain_from_score`: per-row SHAP contributions
        cost about 0.5 ms a row against microseconds for the score, and a decision only reports the
        model's reasons for scores that review or block."""
        params = params or {}
        matrix = model_input.reindex(columns=self.feature_names).astype("float64").to_numpy()
        scores = self.booster.predict(matrix)
        top_n = int(params.get("top_features", TOP_FEATURES))
        explained = np.flatnonzero(scores >= float(params.get("explain_from_score", 0.0)))
        top: list[list[str] | None] = [None] * len(scores)
        if explained.size:
            contributions = self.booster.predict(matrix[explained], pred_contrib=True)[:, :-1]  # last: bias
            order = np.argsort(-contributions, axis=1)[:, :top_n]
            names = np.asarray(self.feature_names)
            for row, index in enumerate(explained):
                top[index] = [str(names[j]) for j in order[row] if contributions[row, j] > 0]
        return pd.DataFrame({"score": scores.astype("float64"), "top_features": top})
