"""LightGBM settings chosen on the last days of the train window, never on anything after it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pixguard.config import ConfigError, load_yaml_as
from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.settings import LightGbmSettings, TrainingSettings, TuningSettings
from pixguard.model.train import tune


def train_window(rows: int = 6_000, seed: int = 3) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Fraud is an interaction of two features: a tree with 2 leaves cannot express it, one with 8 can."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((rows, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    a, b = frame[MODEL_FEATURES[0]], frame[MODEL_FEATURES[1]]
    label = (((a > 0.7) & (b > 0.7)) | ((a < 0.2) & (b < 0.2))) & (rng.random(rows) < 0.8)
    times = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.sort(rng.random(rows)) * 10, unit="D")
    return frame, label.astype(int), pd.Series(times)


def test_the_combination_best_on_the_validation_days_is_chosen_with_its_rounds() -> None:
    frame, label, times = train_window()
    tuning = TuningSettings(validation_days=3, early_stopping_rounds=10, grid={"num_leaves": [2, 8]})
    tuned = tune(frame, label, times, LightGbmSettings(num_boost_round=150, min_data_in_leaf=5), tuning)
    scores = {combination["num_leaves"]: ap for combination, ap, _ in tuned.tried}
    assert scores[8] > scores[2]
    assert tuned.settings.num_leaves == 8 and tuned.validation_average_precision == scores[8]
    assert 1 <= tuned.settings.num_boost_round <= 150
    # The validation rows are the last 3 of the 10 days: about 30% of the window.
    assert 0.25 * len(frame) < tuned.validation_rows < 0.35 * len(frame)


def test_a_validation_window_without_frauds_is_refused_with_the_setting_to_change() -> None:
    frame, label, times = train_window()
    late = times >= times.max() - pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="validation part .* no frauds.*validation_days 1"):
        tune(frame, label.where(~late, 0), times, LightGbmSettings(), TuningSettings(validation_days=1, grid={}))


def test_the_grid_names_only_lightgbm_settings_with_valid_values(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "training.yaml"
    bad.write_text("tuning:\n  grid:\n    num_leafs: [15, 31]\n")
    with pytest.raises(ConfigError, match="num_leafs"):
        load_yaml_as(TrainingSettings, bad)
    bad.write_text("tuning:\n  grid:\n    num_leaves: [1]\n")
    with pytest.raises(ConfigError, match="num_leaves"):
        load_yaml_as(TrainingSettings, bad)
