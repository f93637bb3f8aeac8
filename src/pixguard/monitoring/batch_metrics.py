"""What one archived batch of the decision log says about the service: latency, decision mix,
scores, quarantine, repeats.

The decisions archive computes the figures in the same Spark job that writes the batch to Delta
(`observe`, pixguard.stream.archive.batch_metrics_columns) and reports them with its progress event;
`from_observed` reads that row. No extra Spark job, and nothing in the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DECISION_TYPES = ("APPROVE", "REVIEW", "BLOCK")
# Upper bounds (Prometheus `le`) of the score histogram; scores are probabilities in [0, 1].
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LATENCY_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class LatencyMs:
    """From the payment's event time to its decision on Kafka (the broker timestamp of its outcome on
    the decision log) over one batch: approximate percentiles (percentile_approx), and the max."""

    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class BatchMetrics:
    batch_id: int
    consumed: int
    scored: int
    quarantined: int  # invalid records
    duplicates: int  # repeats of an end_to_end_id already decided (also written to quarantine)
    decisions: dict[str, int]
    latency_ms: LatencyMs | None  # None for a batch with no decision
    score_le_counts: tuple[int, ...]  # cumulative, one per SCORE_BUCKETS bound
    score_sum: float
    unscored: int  # decided by the rules alone (no champion model)
    model_version: str | None
    rules_version: str | None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    # Outcomes published again by a replayed hot path batch, dropped by the archive (Kafka's sink is
    # at-least-once): consumers of the topics saw them twice.
    repeats: int = 0

    @property
    def score_count(self) -> int:
        return self.score_le_counts[-1] if self.score_le_counts else 0

    @property
    def score_bucket_counts(self) -> tuple[int, ...]:
        """Per bucket (not cumulative): scores in (previous bound, bound]."""
        previous = (0, *self.score_le_counts[:-1])
        return tuple(c - p for c, p in zip(self.score_le_counts, previous, strict=True))

    @property
    def to_quarantine(self) -> int:
        """Everything the batch sent to the quarantine table."""
        return self.quarantined + self.duplicates

    def rate(self, decision: str) -> float | None:
        return self.decisions.get(decision, 0) / self.scored if self.scored else None


def from_observed(batch_id: int, row: dict[str, Any], quarantine_reasons: list[str]) -> BatchMetrics:
    """The observed metrics of one decisions-archive batch -> its BatchMetrics."""
    reasons = {r: int(row.get(f"reason_{r}") or 0) for r in [*quarantine_reasons, "other"]}
    reasons = {r: n for r, n in reasons.items() if n}
    duplicates = reasons.pop("duplicate_end_to_end_id", 0)
    scored = int(row.get("scored") or 0)
    quantiles = row.get("latency_quantiles")
    latency_ms = (
        LatencyMs(p50=quantiles[0], p95=quantiles[1], p99=quantiles[2], max=float(row["latency_max"]))
        if quantiles and row.get("latency_max") is not None
        else None
    )
    return BatchMetrics(
        batch_id=batch_id,
        consumed=scored + int(row.get("quarantined_all") or 0),
        scored=scored,
        quarantined=int(row.get("quarantined_all") or 0) - duplicates,
        duplicates=duplicates,
        decisions={d: int(row.get(f"decision_{d}") or 0) for d in DECISION_TYPES},
        latency_ms=latency_ms,
        score_le_counts=tuple(int(row.get(f"score_le_{i}") or 0) for i in range(len(SCORE_BUCKETS))),
        score_sum=float(row.get("score_sum") or 0.0),
        unscored=int(row.get("unscored") or 0),
        model_version=row.get("model_version"),
        rules_version=row.get("rules_version"),
        quarantine_reasons=reasons,
        repeats=int(row.get("repeats") or 0),
    )
