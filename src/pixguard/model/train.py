"""LightGBM on the served features, with the class imbalance of fraud (well under 1%) handled."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.settings import LightGbmSettings


def positive_weight(labels: np.ndarray, settings: LightGbmSettings) -> float:
    """negatives / positives, capped: full re-weighting of a 1:300 imbalance makes scores useless as
    probabilities and over-fits the few frauds; the cap keeps the ranking gain without that."""
    if settings.imbalance == "none":
        return 1.0
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float(min(settings.max_scale_pos_weight, negatives / max(positives, 1)))


def lightgbm_params(labels: np.ndarray, settings: LightGbmSettings) -> dict[str, Any]:
    return {
        "objective": "binary",
        "verbose": -1,
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_data_in_leaf,
        "feature_fraction": settings.feature_fraction,
        "bagging_fraction": settings.bagging_fraction,
        "bagging_freq": settings.bagging_freq,
        "seed": settings.seed,
        "deterministic": True,
        "num_threads": 2,
        "scale_pos_weight": positive_weight(labels, settings),
    }


def train_booster(train: pd.DataFrame, label: pd.Series, settings: LightGbmSettings) -> Any:
    """Features missing in serving (null key age, first payment) stay NaN: LightGBM learns where
    missing values go, which is what the served model will see."""
    import lightgbm as lgb

    y = label.to_numpy(dtype=int)
    data = lgb.Dataset(
        train[MODEL_FEATURES].astype("float64"), y, feature_name=list(MODEL_FEATURES), free_raw_data=True
    )
    return lgb.train(lightgbm_params(y, settings), data, num_boost_round=settings.num_boost_round)
