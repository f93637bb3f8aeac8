"""The job's Prometheus endpoint: a custom collector renders a snapshot of the monitor at scrape time.

A collector (rather than Gauge objects updated in place) keeps one source of truth, the monitor's
state, and makes a scrape a consistent picture of one moment. Label values go through
`safe_label`: no personal data, and no unbounded series from a stray value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pixguard.monitoring.batch_metrics import SCORE_BUCKETS
from pixguard.monitoring.masking import safe_label
from pixguard.monitoring.progress import ProgressMetrics
from pixguard.monitoring.signals import Totals

if TYPE_CHECKING:
    from pixguard.monitoring.alerts import AlertEvent

PREFIX = "pixguard"


@dataclass(frozen=True)
class QueryView:
    name: str
    latest: ProgressMetrics | None
    input_rows_total: int
    batches_total: int
    seconds_since_progress: float


@dataclass(frozen=True)
class JobView:
    job: str
    queries: list[QueryView]
    totals: Totals
    signals: dict[str, float | None]
    model_version: str | None
    rules_version: str | None
    active_alerts: list[AlertEvent] = field(default_factory=list)
    fired_total: dict[str, int] = field(default_factory=dict)


def _query_families(view: JobView) -> Iterator[Metric]:
    gauges = {
        "input_rows_per_second": ("Input rate of the last trigger", lambda p: p.input_rows_per_second),
        "processed_rows_per_second": ("Processing rate of the last trigger", lambda p: p.processed_rows_per_second),
        "batch_duration_ms": ("Duration of the last micro-batch", lambda p: p.batch_duration_ms),
        "state_rows": ("Rows in the state stores (all stateful operators)", lambda p: p.state_rows),
        "state_memory_bytes": ("Memory used by the state stores", lambda p: p.state_memory_bytes),
        "kafka_lag_records": (
            "Records in Kafka not yet read (latest - processed offsets)",
            lambda p: p.kafka_lag_records,
        ),
        "last_batch_id": ("Id of the last micro-batch", lambda p: p.batch_id),
    }
    for name, (doc, read) in gauges.items():
        family = GaugeMetricFamily(f"{PREFIX}_query_{name}", doc, labels=["query"])
        for q in view.queries:
            value = read(q.latest) if q.latest is not None else None
            if value is not None:
                family.add_metric([safe_label(q.name)], float(value))
        yield family
    rows = CounterMetricFamily(f"{PREFIX}_query_input_rows", "Rows read by the query", labels=["query"])
    batches = CounterMetricFamily(f"{PREFIX}_query_batches", "Progress reports of the query", labels=["query"])
    since = GaugeMetricFamily(
        f"{PREFIX}_query_seconds_since_progress", "Seconds since the last progress or idle event", labels=["query"]
    )
    for q in view.queries:
        rows.add_metric([safe_label(q.name)], q.input_rows_total)
        batches.add_metric([safe_label(q.name)], q.batches_total)
        since.add_metric([safe_label(q.name)], q.seconds_since_progress)
    yield from (rows, batches, since)


def _decision_families(view: JobView) -> Iterator[Metric]:
    totals = view.totals
    yield CounterMetricFamily(f"{PREFIX}_consumed_records", "Records consumed by the decision query", totals.consumed)
    decisions = CounterMetricFamily(f"{PREFIX}_decisions", "Decisions by type", labels=["decision"])
    for decision, count in sorted(totals.decisions.items()):
        decisions.add_metric([safe_label(decision)], count)
    yield decisions
    yield CounterMetricFamily(
        f"{PREFIX}_unscored_decisions", "Decisions made by the rules alone (no model)", totals.unscored
    )
    quarantined = CounterMetricFamily(f"{PREFIX}_quarantined", "Records sent to quarantine", labels=["reason"])
    for reason, count in sorted(totals.quarantine_reasons.items()):
        quarantined.add_metric([safe_label(reason)], count)
    yield quarantined
    score = HistogramMetricFamily(f"{PREFIX}_score", "Model scores of decided transactions")
    buckets = [(f"{bound:g}", count) for bound, count in zip(SCORE_BUCKETS, totals.score_le_counts, strict=True)]
    buckets.append(("+Inf", totals.score_le_counts[-1]))
    score.add_metric([], buckets, totals.score_sum)
    yield score


def _job_families(view: JobView) -> Iterator[Metric]:
    for name, value in view.signals.items():
        if value is not None:
            yield GaugeMetricFamily(f"{PREFIX}_job_{name}", f"Alert signal {name} (see conf monitoring.alerts)", value)
    info = GaugeMetricFamily(
        f"{PREFIX}_model_info", "Model and rule set versions deciding now", labels=["model_version", "rules_version"]
    )
    info.add_metric([safe_label(view.model_version or "none"), safe_label(view.rules_version or "none")], 1)
    yield info
    active = GaugeMetricFamily(f"{PREFIX}_alert_active", "Alerts firing now", labels=["rule", "severity"])
    for alert in view.active_alerts:
        active.add_metric([safe_label(alert.rule), safe_label(alert.severity)], 1)
    yield active
    fired = CounterMetricFamily(f"{PREFIX}_alerts_fired", "Alerts fired since the job started", labels=["rule"])
    for rule, count in sorted(view.fired_total.items()):
        fired.add_metric([safe_label(rule)], count)
    yield fired


def families(view: JobView) -> list[Metric]:
    return [*_query_families(view), *_decision_families(view), *_job_families(view)]


class JobCollector(Collector):
    def __init__(self, snapshot: Callable[[], JobView]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from families(self._snapshot())


class MetricsEndpoint:
    """`GET http://HOST:PORT/metrics` on the driver, served by prometheus_client's own thread."""

    def __init__(self, snapshot: Callable[[], JobView], host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(JobCollector(snapshot))
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)

    @property
    def port(self) -> int:
        return self._server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
