"""The promotion policy as a pure decision: challenger and champion measured on the same window.

Kept free of Spark and MLflow: `registry.py` gathers the numbers and moves the alias."""

from __future__ import annotations

from dataclasses import dataclass, field

from pixguard.model.settings import PromotionPolicy


@dataclass(frozen=True)
class Evaluation:
    """One model version's numbers on one test window."""

    version: str
    metrics: dict[str, float]
    batch_scoring_ms: float
    window: str  # identifies the test set: both sides of a comparison must carry the same


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    checks: dict[str, bool] = field(default_factory=dict)


def decide_promotion(policy: PromotionPolicy, challenger: Evaluation, champion: Evaluation | None) -> PromotionDecision:
    metric = policy.primary_metric
    guard = policy.guardrails
    ours = challenger.metrics[metric]
    alert_rate = challenger.metrics["alert_rate"]
    checks = {
        "alert_rate": alert_rate <= guard.max_alert_rate,
        "batch_scoring_time": challenger.batch_scoring_ms <= guard.max_batch_scoring_ms,
    }
    problems = []
    if not checks["alert_rate"]:
        problems.append(f"alert rate {alert_rate:.4f} above the guardrail {guard.max_alert_rate}")
    if not checks["batch_scoring_time"]:
        problems.append(
            f"scoring {guard.scoring_batch_rows} rows took {challenger.batch_scoring_ms:.0f} ms "
            f"(guardrail {guard.max_batch_scoring_ms:.0f} ms)"
        )
    if champion is None:
        checks["metric"] = ours >= policy.min_primary_without_champion
        if not checks["metric"]:
            problems.append(f"{metric} {ours:.4f} below {policy.min_primary_without_champion} (no champion yet)")
        comparison = f"{metric} {ours:.4f}, no champion to beat"
    else:
        if champion.window != challenger.window:
            raise ValueError(f"champion measured on {champion.window}, challenger on {challenger.window}")
        theirs = champion.metrics[metric]
        checks["metric"] = ours >= theirs + policy.min_improvement
        comparison = f"{metric} {ours:.4f} vs champion v{champion.version} {theirs:.4f}"
        if not checks["metric"]:
            problems.append(f"{comparison}: does not beat it by the margin {policy.min_improvement}")
    if problems:
        return PromotionDecision(False, "refused: " + "; ".join(problems), checks)
    return PromotionDecision(True, f"policy: {comparison}, guardrails passed", checks)
