"""Figures of one archived batch of the decision log, computed by the archive's own aggregate
(batch_metrics_columns, as `observe` computes it) on rows with known timestamps and scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pixguard.monitoring.batch_metrics import from_observed
from pixguard.stream.archive import batch_metrics_columns

PUBLISHED_AT = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
SCHEMA = (
    "outcome string, is_repeat boolean, event_time timestamp, published_at timestamp, decided_at timestamp,"
    " decision string, score double, reason string, model_version string, rules_version string"
)
REASONS = ["malformed_json", "amount_out_of_range", "duplicate_end_to_end_id"]


def observed(spark, rows: list[tuple]) -> dict:  # noqa: ANN001
    """The aggregate of rows (outcome, is_repeat, ms before PUBLISHED_AT, decision, score, reason, model, rules)."""
    frame = spark.createDataFrame(
        [
            (o, repeat, PUBLISHED_AT - timedelta(milliseconds=ms), PUBLISHED_AT, PUBLISHED_AT, d, s, r, m, v)
            for o, repeat, ms, d, s, r, m, v in rows
        ],
        SCHEMA,
    )
    return frame.agg(*batch_metrics_columns(REASONS)).first().asDict()


def decided(ms: int, decision: str, score: float | None, repeat: bool = False) -> tuple:
    return ("decided", repeat, ms, decision, score, None, "4", "r9")


def quarantined(reason: str, repeat: bool = False) -> tuple:
    return ("quarantined", repeat, 0, None, None, reason, None, None)


def test_latency_percentiles_scores_and_counts_of_a_known_batch(spark) -> None:  # noqa: ANN001
    scores = [0.05, 0.15, 0.15, 0.35, 0.5, 0.55, 0.95, 1.0, None, None]
    decisions = ["APPROVE"] * 6 + ["BLOCK", "BLOCK", "REVIEW", "APPROVE"]
    rows = [decided((i + 1) * 100, d, s) for i, (d, s) in enumerate(zip(decisions, scores, strict=True))]
    rows += [quarantined("malformed_json"), quarantined("no_such_reason"), quarantined("duplicate_end_to_end_id")]
    rows += [decided(5_000, "BLOCK", 0.99, repeat=True), quarantined("malformed_json", repeat=True)]
    metrics = from_observed(12, observed(spark, rows), REASONS)

    # latencies 100..1000 ms (the repeat's 5 s not among them): approximate percentiles, exact here
    assert (metrics.latency_ms.p50, metrics.latency_ms.p95, metrics.latency_ms.p99) == (500, 1000, 1000)
    assert metrics.latency_ms.max == 1000
    assert metrics.score_le_counts == (1, 3, 3, 4, 5, 6, 6, 6, 6, 8)  # score <= 0.1, <= 0.2, ...
    assert metrics.score_bucket_counts == (1, 2, 0, 1, 1, 1, 0, 0, 0, 2)
    assert abs(metrics.score_sum - sum(s for s in scores if s is not None)) < 1e-9
    assert metrics.unscored == 2 and metrics.score_count == 8
    assert (metrics.consumed, metrics.scored, metrics.quarantined, metrics.duplicates) == (13, 10, 2, 1)
    assert metrics.to_quarantine == 3 and metrics.repeats == 2
    assert metrics.quarantine_reasons == {"malformed_json": 1, "other": 1}
    assert metrics.decisions == {"APPROVE": 7, "REVIEW": 1, "BLOCK": 2}
    assert metrics.rate("BLOCK") == 0.2 and metrics.rate("REVIEW") == 0.1
    assert (metrics.model_version, metrics.rules_version) == ("4", "r9")


def test_a_batch_without_decisions_has_no_latency(spark) -> None:  # noqa: ANN001
    metrics = from_observed(3, observed(spark, [quarantined("malformed_json")] * 4), REASONS)
    assert metrics.latency_ms is None and metrics.score_count == 0 and metrics.rate("BLOCK") is None
    assert (metrics.consumed, metrics.quarantined) == (4, 4) and metrics.model_version is None
