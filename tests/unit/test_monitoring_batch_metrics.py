"""Figures of one decided batch, on a local SparkSession, from rows with known timestamps and scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pixguard.monitoring.batch_metrics import batch_metrics
from pixguard.stream.decisions import BatchOutcome

DECIDED_AT = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
SCHEMA = "end_to_end_id string, event_time timestamp, decided_at timestamp, decision string, score double"


def decided_rows(spark, rows: list[tuple]):  # noqa: ANN001, ANN201
    """Rows of (event_time offset before DECIDED_AT in ms, decision, score), latency derived as the job does."""
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(
        [
            (f"E{i:031d}", DECIDED_AT - timedelta(milliseconds=ms), DECIDED_AT, decision, score)
            for i, (ms, decision, score) in enumerate(rows)
        ],
        SCHEMA,
    )
    return frame.withColumn("decision_latency_ms", F.unix_millis("decided_at") - F.unix_millis("event_time"))


def outcome(published_at: datetime | None = None, **counts: int) -> BatchOutcome:
    decisions = {k: v for k, v in counts.items() if k in ("APPROVE", "REVIEW", "BLOCK")}
    return BatchOutcome(
        batch_id=12,
        consumed=counts["consumed"],
        scored=sum(decisions.values()),
        quarantined=counts.get("quarantined", 0),
        duplicates=counts.get("duplicates", 0),
        decisions=decisions,
        model_version="4",
        rules_version="r9",
        quarantine_reasons={"malformed_json": counts.get("quarantined", 0)},
        published_at=published_at,
    )


def test_latency_percentiles_scores_and_counts_of_a_known_batch(spark) -> None:  # noqa: ANN001
    scores = [0.05, 0.15, 0.15, 0.35, 0.5, 0.55, 0.95, 1.0, None, None]
    decisions = ["APPROVE"] * 6 + ["BLOCK", "BLOCK", "REVIEW", "APPROVE"]
    rows = [((i + 1) * 100, d, s) for i, (d, s) in enumerate(zip(decisions, scores, strict=True))]
    metrics = batch_metrics(
        decided_rows(spark, rows), outcome(consumed=13, quarantined=2, duplicates=1, APPROVE=7, REVIEW=1, BLOCK=2)
    )

    # latencies 100..1000 ms: exact percentiles with linear interpolation between ranks
    assert metrics.latency_ms.p50 == 550 and metrics.latency_ms.p95 == 955 and metrics.latency_ms.p99 == 991
    assert metrics.latency_ms.max == 1000
    assert metrics.score_le_counts == (1, 3, 3, 4, 5, 6, 6, 6, 6, 8)  # score <= 0.1, <= 0.2, ...
    assert metrics.score_bucket_counts == (1, 2, 0, 1, 1, 1, 0, 0, 0, 2)
    assert abs(metrics.score_sum - sum(s for s in scores if s is not None)) < 1e-9
    assert metrics.unscored == 2 and metrics.score_count == 8
    assert metrics.consumed == 13 and metrics.to_quarantine == 3
    assert metrics.rate("BLOCK") == 0.2 and metrics.rate("REVIEW") == 0.1
    assert (metrics.model_version, metrics.rules_version) == ("4", "r9")


def test_a_batch_without_decisions_has_no_latency(spark) -> None:  # noqa: ANN001
    metrics = batch_metrics(decided_rows(spark, []), outcome(consumed=4, quarantined=4))
    assert metrics.latency_ms is None and metrics.score_count == 0 and metrics.rate("BLOCK") is None


def test_latency_runs_to_the_decision_on_kafka_when_the_batch_published(spark) -> None:  # noqa: ANN001
    """decided_at is stamped when the batch starts deciding; the payment waits until Kafka has it."""
    rows = [(100, "APPROVE", 0.1), (300, "APPROVE", 0.2)]
    published_at = DECIDED_AT + timedelta(seconds=2)
    metrics = batch_metrics(decided_rows(spark, rows), outcome(published_at=published_at, consumed=2, APPROVE=2))
    assert metrics.latency_ms.max == 2_300 and metrics.latency_ms.p50 == 2_200
