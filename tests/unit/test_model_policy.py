"""Promotion policy decisions, the champion history that rollback reads, and the policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.config import ConfigError
from pixguard.model.policy import Evaluation, decide_promotion
from pixguard.model.registry import AliasMove, champion_stack
from pixguard.model.settings import PromotionPolicy, load_promotion_policy, load_training_settings

POLICY = PromotionPolicy(min_improvement=0.02, min_primary_without_champion=0.1)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def ev(version: str, ap: float, alert_rate: float = 0.01, ms: float = 50.0, window: str = "w1") -> Evaluation:
    return Evaluation(version, {"average_precision": ap, "alert_rate": alert_rate}, ms, window)


def test_a_challenger_that_beats_the_champion_by_the_margin_is_promoted() -> None:
    decision = decide_promotion(POLICY, ev("2", 0.50), ev("1", 0.45))
    assert decision.promote
    assert "champion v1" in decision.reason


def test_a_challenger_within_the_margin_is_refused_with_the_reason() -> None:
    decision = decide_promotion(POLICY, ev("2", 0.46), ev("1", 0.45))
    assert not decision.promote
    assert decision.reason.startswith("refused:")
    assert "margin 0.02" in decision.reason


def test_guardrails_refuse_a_better_model() -> None:
    noisy = decide_promotion(POLICY, ev("2", 0.9, alert_rate=0.2), ev("1", 0.45))
    slow = decide_promotion(POLICY, ev("2", 0.9, ms=60_000), ev("1", 0.45))
    assert not noisy.promote and "alert rate" in noisy.reason and noisy.checks["metric"]
    assert not slow.promote and "took 60000 ms" in slow.reason


def test_first_champion_needs_the_floor() -> None:
    assert decide_promotion(POLICY, ev("1", 0.2), None).promote
    assert not decide_promotion(POLICY, ev("1", 0.05), None).promote


def test_comparison_on_different_windows_is_an_error() -> None:
    with pytest.raises(ValueError, match="champion measured on w0"):
        decide_promotion(POLICY, ev("2", 0.9), ev("1", 0.1, window="w0"))


def move(version: str, from_version: str | None, kind: str = "promote", alias: str = "champion") -> AliasMove:
    return AliasMove("t", alias, version, from_version, "why", kind=kind)


def test_champion_stack_pushes_promotions_and_pops_rollbacks() -> None:
    moves = [
        move("1", None),
        move("2", None, alias="challenger"),
        move("2", "1"),
        move("3", "2"),
        move("2", "3", kind="rollback"),
    ]
    assert champion_stack(moves) == ["1", "2"]
    assert champion_stack([*moves, move("1", "2", kind="rollback")]) == ["1"]


def test_a_champion_set_outside_the_registry_module_is_the_first_entry() -> None:
    assert champion_stack([move("5", "4")]) == ["4", "5"]


def test_a_champion_set_in_the_mlflow_ui_between_recorded_moves_is_what_a_rollback_returns_to() -> None:
    recorded = [move("1", None), move("2", "1"), move("3", "2")]
    # Someone pulled 3 in the UI, back to 2; the retraining DAG then promoted 4 over 2.
    assert champion_stack([*recorded, move("4", "2")]) == ["1", "2", "3", "2", "4"]
    # The UI set 5, unrecorded; 6 promoted over it: a rollback goes to 5.
    assert champion_stack([move("1", None), move("2", "1"), move("6", "5")])[-2:] == ["5", "6"]
    # A rollback from a version set in the UI pops it, back to what was in force before it.
    assert champion_stack([*recorded, move("2", "7", kind="rollback")]) == ["1", "2", "3", "2"]


class _Registry:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_model_version_by_alias(self, name: str, alias: str) -> None:
        raise self.error


def test_only_a_missing_model_or_alias_reads_as_no_champion() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE

    from pixguard.model.registry import alias_version

    missing_alias = MlflowException("Registered model alias champion not found.", INVALID_PARAMETER_VALUE)
    assert alias_version(_Registry(missing_alias), "pix-fraud", "champion") is None
    missing_model = MlflowException("Registered Model with name=pix-fraud not found", RESOURCE_DOES_NOT_EXIST)
    assert alias_version(_Registry(missing_model), "pix-fraud", "champion") is None
    for down in (
        MlflowException("API request to endpoint /api/2.0/mlflow/registered-models/alias failed"),
        MlflowException("service unavailable", TEMPORARILY_UNAVAILABLE),
    ):
        with pytest.raises(MlflowException):
            alias_version(_Registry(down), "pix-fraud", "champion")


def test_the_project_policy_and_training_files_load() -> None:
    policy = load_promotion_policy(PROJECT_ROOT)
    settings = load_training_settings(PROJECT_ROOT)
    assert policy.primary_metric == "average_precision"
    assert 0.01 in settings.alert_budgets


def test_a_wrong_policy_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "promotion_policy.yaml"
    bad.write_text("primary_metric: accuracy\nguardrails: {max_alert_rate: 2}\n")
    with pytest.raises(ConfigError) as error:
        load_promotion_policy(PROJECT_ROOT, bad)
    assert error.value.file == str(bad)
    assert error.value.key == "primary_metric"
