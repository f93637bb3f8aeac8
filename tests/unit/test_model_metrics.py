"""Fraud-team metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from pixguard.model.metrics import budget_label, evaluate_scores, top_k


def test_budget_labels_are_metric_names() -> None:
    assert budget_label(0.005) == "0_5pct"
    assert budget_label(0.01) == "1pct"


def test_top_k_takes_the_ceiling_of_the_budget_and_breaks_ties_by_position() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert top_k(scores, 0.2).tolist() == [1]
    assert top_k(scores, 0.41).tolist() == [1, 3, 2]  # ceil(2.05) = 3


def test_precision_recall_and_value_per_alert_at_budget() -> None:
    # 200 transactions, 4 frauds; the top 1% (2 alerts) holds one fraud of R$ 500 and one legitimate.
    labels = np.zeros(200, dtype=int)
    scores = np.linspace(0, 0.5, 200)
    amounts = np.full(200, 10.0)
    labels[[199, 10, 11, 12]] = 1
    amounts[199] = 500.0
    scores[199], scores[198] = 0.99, 0.98
    m = evaluate_scores(labels, scores, amounts, budgets=(0.01,), review_threshold=0.9)
    assert m["precision_at_1pct"] == pytest.approx(0.5)
    assert m["recall_at_1pct"] == pytest.approx(0.25)
    assert m["value_detected_per_alert_brl_at_1pct"] == pytest.approx(250.0)
    assert m["alert_rate"] == pytest.approx(2 / 200)
    assert m["frauds"] == 4


def test_perfect_ranking_and_random_ranking() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(5000) < 0.02).astype(int)
    perfect = evaluate_scores(labels, labels + rng.random(5000) * 0.1, np.ones(5000))
    assert perfect["average_precision"] == pytest.approx(1.0)
    assert perfect["roc_auc"] == pytest.approx(1.0)
    noise = evaluate_scores(labels, rng.random(5000), np.ones(5000))
    assert noise["average_precision"] < 0.06
    assert 0.4 < noise["roc_auc"] < 0.6


def test_missing_scores_rank_last_and_one_class_is_refused() -> None:
    m = evaluate_scores([1, 0, 0], [np.nan, 0.2, 0.1], [1, 1, 1])
    assert m["roc_auc"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="both frauds and legitimate"):
        evaluate_scores([0, 0], [0.1, 0.2], [1, 1])
