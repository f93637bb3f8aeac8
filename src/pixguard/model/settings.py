"""Typed settings of the model lifecycle, read from `model_registry/` (training and promotion policy).

Both files load through `pixguard.config.load_yaml_as`, so a wrong key fails with the file, the
dotted key and what was expected, like every other configuration file of the project."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixguard.config import load_yaml_as

TRAINING_FILE = "model_registry/training.yaml"
POLICY_FILE = "model_registry/promotion_policy.yaml"
TRAINING_SUITE = "expectations/training_set.json"

Metric = Literal["average_precision", "roc_auc", "precision_at_1pct", "recall_at_1pct"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGbmSettings(_Model):
    num_boost_round: int = Field(default=200, ge=1)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2)
    min_data_in_leaf: int = Field(default=20, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    seed: int = 7
    imbalance: Literal["scale_pos_weight", "none"] = "scale_pos_weight"
    max_scale_pos_weight: float = Field(default=50.0, ge=1)


class TuningSettings(_Model):
    """LightGBM settings chosen on a time split of the train window: each combination of `grid` is
    trained on the train window less its last `validation_days`, stopped early on the average
    precision of those days, and the best one is trained again on the whole train window, for its
    best number of rounds. The test window is never looked at."""

    validation_days: float = Field(default=3.0, gt=0)
    early_stopping_rounds: int = Field(default=30, ge=1)
    grid: dict[str, list[int | float | str]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _lightgbm_settings_only(cls, grid: dict[str, list[int | float | str]]) -> dict[str, list[int | float | str]]:
        for name, values in grid.items():
            if name not in LightGbmSettings.model_fields or name == "seed":
                raise ValueError(f"{name!r} is not a LightGBM setting to tune (one of the keys of `lightgbm`)")
            for value in values:
                LightGbmSettings.model_validate({name: value})  # each value must be a valid setting
        return grid


class TrainingSettings(_Model):
    experiment: str = "pixguard-fraud"
    label_maturity_days: float = Field(default=10.0, ge=0)
    test_days: float = Field(default=5.0, gt=0)
    gap_days: float = Field(default=1.0, ge=0)
    train_days: float | None = Field(default=None, gt=0)
    min_train_frauds: int = Field(default=20, ge=1)
    alert_budgets: tuple[float, ...] = (0.005, 0.01)
    lightgbm: LightGbmSettings = LightGbmSettings()
    tuning: TuningSettings | None = None  # None: train `lightgbm` as given


class Guardrails(_Model):
    max_alert_rate: float = Field(default=0.03, gt=0, le=1)
    max_batch_scoring_ms: float = Field(default=2000.0, gt=0)
    scoring_batch_rows: int = Field(default=10_000, ge=1)


class PromotionPolicy(_Model):
    primary_metric: Metric = "average_precision"
    min_improvement: float = Field(default=0.01, ge=0)
    min_primary_without_champion: float = Field(default=0.05, ge=0, le=1)
    guardrails: Guardrails = Guardrails()


def load_training_settings(project_root: Path, path: Path | None = None) -> TrainingSettings:
    return load_yaml_as(TrainingSettings, path or project_root / TRAINING_FILE)


def load_promotion_policy(project_root: Path, path: Path | None = None) -> PromotionPolicy:
    return load_yaml_as(PromotionPolicy, path or project_root / POLICY_FILE)
