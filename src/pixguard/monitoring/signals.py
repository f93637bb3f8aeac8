"""The job's recent history (progress reports, decided batches, watcher errors) and the values the
alert rules and the endpoint read from it.

No I/O and no clock of its own: every update and every reading takes `at`/`now` (epoch seconds),
so a test can replay any timeline. The owner (JobMonitor) serialises access with its lock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pixguard.monitoring.batch_metrics import DECISION_TYPES, SCORE_BUCKETS, BatchMetrics
from pixguard.monitoring.progress import ProgressMetrics

# The names alert rules may use (pixguard.config.AlertMetric lists the same; a test pins them).
SIGNALS = (
    "decision_latency_p50_ms",
    "decision_latency_p95_ms",
    "decision_latency_p99_ms",
    "quarantine_rate",
    "review_rate",
    "block_rate",
    "kafka_lag_records",
    "kafka_lag_growth_records",
    "seconds_since_progress",
    "batch_duration_ms",
    "input_rows_per_second",
    "processed_rows_per_second",
    "state_rows",
    "state_memory_bytes",
    "model_reload_failing",
    "rules_reload_failing",
)


@dataclass
class QueryState:
    name: str
    last_seen_at: float
    latest: ProgressMetrics | None = None
    input_rows_total: int = 0
    batches_total: int = 0
    lag_history: deque[tuple[float, int]] = field(default_factory=deque)


@dataclass
class Totals:
    """Counters since the job started (Prometheus counters)."""

    consumed: int = 0
    scored: int = 0
    unscored: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISION_TYPES, 0))
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    score_le_counts: list[int] = field(default_factory=lambda: [0] * len(SCORE_BUCKETS))
    score_sum: float = 0.0

    def add(self, batch: BatchMetrics) -> None:
        self.consumed += batch.consumed
        self.scored += batch.scored
        self.unscored += batch.unscored
        for decision, count in batch.decisions.items():
            self.decisions[decision] = self.decisions.get(decision, 0) + count
        reasons = dict(batch.quarantine_reasons)
        if batch.duplicates:
            reasons["duplicate_end_to_end_id"] = batch.duplicates
        for reason, count in reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + count
        self.score_le_counts = [a + b for a, b in zip(self.score_le_counts, batch.score_le_counts, strict=True)]
        self.score_sum += batch.score_sum


class JobSignals:
    def __init__(self, rate_window_s: float, rate_min_rows: int) -> None:
        self.rate_window_s, self.rate_min_rows = rate_window_s, rate_min_rows
        self.queries: dict[str, QueryState] = {}
        self.batches: deque[tuple[float, BatchMetrics]] = deque()
        self.totals = Totals()
        # What the serving publisher reports (the streaming job), and the rules the executors disabled
        # as the archived decisions tell it (the archive job); unknown until one of them reports.
        self.serving_known = False
        self.served_versions: tuple[str | None, str | None] = (None, None)  # model, rules
        self.model_error: str | None = None
        self.serving_rules_error: str | None = None
        self.disabled_rules_error: str | None = None

    # -- updates --------------------------------------------------------------------------------

    def _query(self, name: str, at: float) -> QueryState:
        if name not in self.queries:
            self.queries[name] = QueryState(name, last_seen_at=at)
        return self.queries[name]

    def started(self, name: str, at: float) -> None:
        self._query(name, at).last_seen_at = at

    def idle(self, name: str, at: float) -> None:
        """An idle query is alive: it polled its source and found nothing new."""
        self._query(name, at).last_seen_at = at

    def terminated(self, name: str) -> None:
        self.queries.pop(name, None)

    def progress(self, progress: ProgressMetrics, at: float) -> None:
        state = self._query(progress.query, at)
        state.last_seen_at, state.latest = at, progress
        state.input_rows_total += progress.input_rows
        state.batches_total += 1
        if progress.kafka_lag_records is not None:
            state.lag_history.append((at, progress.kafka_lag_records))
            # Keep one point older than the window: the baseline the growth is measured from.
            while len(state.lag_history) > 1 and state.lag_history[1][0] <= at - self.rate_window_s:
                state.lag_history.popleft()

    def serving(
        self, model_version: str | None, rules_version: str | None, model_error: str | None, rules_error: str | None
    ) -> None:
        self.serving_known, self.served_versions = True, (model_version, rules_version)
        self.model_error, self.serving_rules_error = model_error, rules_error

    def batch(self, metrics: BatchMetrics, at: float, disabled_rules_error: str | None = None) -> None:
        self.totals.add(metrics)
        self.batches.append((at, metrics))
        # The latest batch always stays: with no new traffic its figures are the last known ones.
        while len(self.batches) > 1 and self.batches[0][0] < at - self.rate_window_s:
            self.batches.popleft()
        self.disabled_rules_error = disabled_rules_error

    @property
    def rules_error(self) -> str | None:
        return self.serving_rules_error or self.disabled_rules_error

    # -- readings -------------------------------------------------------------------------------

    def _window(self) -> list[BatchMetrics]:
        """The batches of the `rate_window_s` ending at the latest batch: with no new traffic the
        figures stay the last known ones instead of turning unknown."""
        if not self.batches:
            return []
        start = self.batches[-1][0] - self.rate_window_s
        return [b for at, b in self.batches if at >= start]

    @property
    def latest_batch(self) -> BatchMetrics | None:
        return self.batches[-1][1] if self.batches else None

    def values(self, now: float) -> dict[str, float | None]:
        """Every signal; None where it is unknown (no data yet, or too few rows for a rate)."""
        window = self._window()
        consumed = sum(b.consumed for b in window)
        scored = sum(b.scored for b in window)
        enough = consumed >= self.rate_min_rows
        latencies = [b.latency_ms for b in window if b.latency_ms is not None]
        latest = [q.latest for q in self.queries.values() if q.latest is not None]

        def worst(values: list[float | int | None]) -> float | None:
            known = [v for v in values if v is not None]
            return float(max(known)) if known else None

        def rate(count: int, over: int) -> float | None:
            return count / over if enough and over else None

        growths = [q.lag_history[-1][1] - q.lag_history[0][1] for q in self.queries.values() if len(q.lag_history) > 1]
        return {
            # Worst batch of the window: a percentile cannot be merged across batches without the rows.
            "decision_latency_p50_ms": worst([lat.p50 for lat in latencies]),
            "decision_latency_p95_ms": worst([lat.p95 for lat in latencies]),
            "decision_latency_p99_ms": worst([lat.p99 for lat in latencies]),
            "quarantine_rate": rate(sum(b.to_quarantine for b in window), consumed),
            "review_rate": rate(sum(b.decisions.get("REVIEW", 0) for b in window), scored),
            "block_rate": rate(sum(b.decisions.get("BLOCK", 0) for b in window), scored),
            "kafka_lag_records": worst([p.kafka_lag_records for p in latest]),
            "kafka_lag_growth_records": worst(growths),
            "seconds_since_progress": worst([now - q.last_seen_at for q in self.queries.values()]),
            "batch_duration_ms": worst([p.batch_duration_ms for p in latest]),
            "input_rows_per_second": float(sum(p.input_rows_per_second for p in latest)) if latest else None,
            "processed_rows_per_second": float(sum(p.processed_rows_per_second for p in latest)) if latest else None,
            "state_rows": float(sum(p.state_rows for p in latest)) if latest else None,
            "state_memory_bytes": float(sum(p.state_memory_bytes for p in latest)) if latest else None,
            "model_reload_failing": float(self.model_error is not None) if self.serving_known else None,
            "rules_reload_failing": (
                float(self.rules_error is not None) if self.serving_known or self.latest_batch else None
            ),
        }

    def details(self) -> dict[str, str]:
        """Text that explains a signal, carried into its alert (masked by the alert layer)."""
        found = {}
        if self.model_error:
            found["model_reload_failing"] = self.model_error
        if self.rules_error:
            found["rules_reload_failing"] = self.rules_error
        return found
