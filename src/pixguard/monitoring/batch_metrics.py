"""What one decided micro-batch says about the service: latency, decision mix, scores, quarantine.

`batch_metrics` is a pure function of the batch's decisions DataFrame (already persisted by the
foreachBatch, so this is one small aggregation job, not a recomputation) and its `BatchOutcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from pixguard.stream.decisions import BatchOutcome

DECISION_TYPES = ("APPROVE", "REVIEW", "BLOCK")
# Upper bounds (Prometheus `le`) of the score histogram; scores are probabilities in [0, 1].
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LATENCY_QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class LatencyMs:
    """From the payment to its decision on Kafka (published_at - event_time; decided_at - event_time
    for a batch not published) over one batch: exact percentiles (linear interpolation), and the max."""

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


def batch_metrics(decisions: DataFrame, outcome: BatchOutcome) -> BatchMetrics:
    from pyspark.sql import functions as F

    if outcome.published_at is not None:  # what the payment waited for: the decision on Kafka
        published = F.lit(outcome.published_at).cast("timestamp")
        latency = (F.unix_millis(published) - F.unix_millis("event_time")).cast("double")
    else:
        latency = F.col("decision_latency_ms").cast("double")
    score = F.col("score")
    row = decisions.agg(
        F.percentile(latency, list(LATENCY_QUANTILES)).alias("quantiles"),
        F.max(latency).alias("latency_max"),
        *[F.count(F.when(score <= bound, True)).alias(f"le_{i}") for i, bound in enumerate(SCORE_BUCKETS)],
        F.sum(score).alias("score_sum"),
        F.count(F.when(score.isNull(), True)).alias("unscored"),
    ).first()
    quantiles = row["quantiles"]
    latency_ms = (
        LatencyMs(p50=quantiles[0], p95=quantiles[1], p99=quantiles[2], max=row["latency_max"])
        if quantiles is not None and row["latency_max"] is not None
        else None
    )
    return BatchMetrics(
        batch_id=outcome.batch_id,
        consumed=outcome.consumed,
        scored=outcome.scored,
        quarantined=outcome.quarantined,
        duplicates=outcome.duplicates,
        decisions={d: int(outcome.decisions.get(d, 0)) for d in DECISION_TYPES},
        latency_ms=latency_ms,
        score_le_counts=tuple(int(row[f"le_{i}"]) for i in range(len(SCORE_BUCKETS))),
        score_sum=float(row["score_sum"] or 0.0),
        unscored=int(row["unscored"]),
        model_version=outcome.model_version,
        rules_version=outcome.rules_version,
        quarantine_reasons=dict(outcome.quarantine_reasons),
    )
