"""Evaluation plots as PNG files (logged with the run): PR curve, ROC, score distribution, importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # jobs run headless
    import matplotlib.pyplot as plt

    return plt


def write_plots(
    folder: Path,
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    importance: dict[str, float],
) -> list[Path]:
    """`scores` maps a curve's name (model, rules baseline, champion) to its scores on the test set."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(labels, s)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test window)")
    ax.legend()
    written.append(_save(fig, folder / "precision_recall.png", plt))

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(labels, s)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test window)")
    ax.legend()
    written.append(_save(fig, folder / "roc.png", plt))

    model_scores = next(iter(scores.values()))
    fig, ax = plt.subplots(figsize=(6, 5))
    bins = np.linspace(0, 1, 41)
    ax.hist(model_scores[labels == 0], bins=bins, alpha=0.6, density=True, label="legitimate")
    ax.hist(model_scores[labels == 1], bins=bins, alpha=0.6, density=True, label="fraud")
    ax.set(xlabel="score", ylabel="density", title="Score distribution (test window)", yscale="log")
    ax.legend()
    written.append(_save(fig, folder / "score_distribution.png", plt))

    ranked = sorted(importance.items(), key=lambda kv: kv[1])[-20:]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([k for k, _ in ranked], [v for _, v in ranked])
    ax.set(xlabel="total gain", title="Feature importance")
    fig.tight_layout()
    written.append(_save(fig, folder / "feature_importance.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
