"""LightGBM on the served features, with the class imbalance of fraud (well under 1%) handled."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.settings import LightGbmSettings, TuningSettings


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


@dataclass(frozen=True)
class Tuned:
    settings: LightGbmSettings  # the chosen combination, num_boost_round its best number of rounds
    validation_average_precision: float
    validation_rows: int
    tried: list[tuple[dict[str, Any], float, int]]  # (combination, validation AP, best rounds)


def tune(
    train: pd.DataFrame, label: pd.Series, event_time: pd.Series, base: LightGbmSettings, tuning: TuningSettings
) -> Tuned:
    """TuningSettings' search on `train` (features, label and event time of the train window)."""
    import lightgbm as lgb

    times = pd.to_datetime(event_time, utc=True).to_numpy()
    cut = times.max() - np.timedelta64(int(tuning.validation_days * 86_400_000), "ms")
    fit, valid = times < cut, times >= cut
    y = label.to_numpy(dtype=int)
    for name, part in (("fitting", fit), ("validation", valid)):
        if y[part].sum() == 0 or y[part].sum() == part.sum():
            raise ValueError(
                f"tuning: the {name} part of the train window has no frauds or nothing else "
                f"(validation_days {tuning.validation_days:g} of model_registry/training.yaml: tuning)"
            )
    features = train[MODEL_FEATURES].astype("float64")
    names = sorted(tuning.grid)
    tried = []
    for values in itertools.product(*(tuning.grid[n] for n in names)) if names else [()]:
        combination = dict(zip(names, values, strict=True))
        candidate = base.model_copy(update=combination)
        params = lightgbm_params(y[fit], candidate) | {"metric": "average_precision"}
        booster = lgb.train(
            params,
            lgb.Dataset(features[fit], y[fit], feature_name=list(MODEL_FEATURES)),
            num_boost_round=candidate.num_boost_round,
            valid_sets=[lgb.Dataset(features[valid], y[valid], feature_name=list(MODEL_FEATURES))],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(tuning.early_stopping_rounds, verbose=False)],
        )
        score = float(booster.best_score["validation"]["average_precision"])
        tried.append((combination, score, int(booster.best_iteration or candidate.num_boost_round)))
    combination, score, rounds = max(tried, key=lambda t: t[1])
    chosen = base.model_copy(update={**combination, "num_boost_round": rounds})
    return Tuned(chosen, score, int(valid.sum()), tried)
