"""The numbers fraud teams judge a model by, from labels, scores and amounts (pure numpy).

A fraud team reviews a fixed share of transactions (the alert budget), so beside the ranking
metrics (average precision, ROC AUC) we report precision and recall among the top-scored share,
and the R$ of fraud caught per alert raised."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def budget_label(budget: float) -> str:
    """0.005 -> '0_5pct', 0.01 -> '1pct' (MLflow metric names, no dots)."""
    percent = f"{budget * 100:g}"
    return f"{percent.replace('.', '_')}pct"


def top_k(scores: np.ndarray, budget: float) -> np.ndarray:
    """Indices of the ceil(budget * n) highest scores; ties broken by position so the result is stable."""
    k = max(1, math.ceil(budget * len(scores)))
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]


def at_budget(labels: np.ndarray, scores: np.ndarray, amounts: np.ndarray, budget: float) -> dict[str, float]:
    alerts = top_k(scores, budget)
    caught = labels[alerts] == 1
    frauds = int(labels.sum())
    name = budget_label(budget)
    return {
        f"precision_at_{name}": float(caught.mean()),
        f"recall_at_{name}": float(caught.sum() / frauds) if frauds else 0.0,
        f"value_detected_per_alert_brl_at_{name}": float(amounts[alerts][caught].sum() / len(alerts)),
    }


def evaluate_scores(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    amounts_brl: Sequence[float] | np.ndarray,
    budgets: Sequence[float] = (0.005, 0.01),
    review_threshold: float | None = None,
) -> dict[str, float]:
    """Ranking metrics, then precision / recall / R$ per alert at each alert budget."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(labels, dtype=int)
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    amounts = np.asarray(amounts_brl, dtype=float)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("evaluation needs both frauds and legitimate transactions")
    finite = np.where(np.isfinite(s), s, np.finfo(float).min)
    metrics = {
        "average_precision": float(average_precision_score(y, finite)),
        "roc_auc": float(roc_auc_score(y, finite)),
        "fraud_rate": float(y.mean()),
        "rows": float(len(y)),
        "frauds": float(y.sum()),
    }
    for budget in budgets:
        metrics |= at_budget(y, finite, amounts, budget)
    if review_threshold is not None:
        metrics["alert_rate"] = float((finite >= review_threshold).mean())
    return metrics
