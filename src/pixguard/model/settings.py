"""Typed settings of the model lifecycle, read from `model_registry/` (training and promotion policy).

Both files load through `pixguard.config.load_yaml_as`, so a wrong key fails with the file, the
dotted key and what was expected, like every other configuration file of the project."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class TrainingSettings(_Model):
    experiment: str = "pixguard-fraud"
    label_maturity_days: float = Field(default=10.0, ge=0)
    test_days: float = Field(default=5.0, gt=0)
    gap_days: float = Field(default=1.0, ge=0)
    train_days: float | None = Field(default=None, gt=0)
    min_train_frauds: int = Field(default=20, ge=1)
    alert_budgets: tuple[float, ...] = (0.005, 0.01)
    lightgbm: LightGbmSettings = LightGbmSettings()


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
