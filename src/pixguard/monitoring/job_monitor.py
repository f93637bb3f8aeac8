"""The monitor of one running streaming application (the streaming job, the archive job): takes the
listener's events (the archived batches' figures come with the decisions archive's progress events,
as observed metrics) and the serving publisher's state, keeps the signals, evaluates the alert rules
on a timer, serves Prometheus and, when given a table, appends stream_metrics.

Threads: the listener calls in on Spark's listener-bus thread, the endpoint reads on its HTTP
thread; one lock guards the state. Alerts are evaluated by a
timer thread (not on events) so that silence itself, a stalled query, is noticed; Delta rows are
appended by another, so a slow write never delays an alert."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixguard.config import Bundle, MonitoringSettings, StreamingConfig
from pixguard.monitoring.alert_sinks import AlertSink, dispatch, ops_alert_sinks
from pixguard.monitoring.alerts import AlertEvaluator, AlertEvent
from pixguard.monitoring.batch_metrics import BatchMetrics, from_observed
from pixguard.monitoring.masking import install_log_masking
from pixguard.monitoring.progress import ProgressMetrics
from pixguard.monitoring.prometheus import JobView, MetricsEndpoint, QueryView
from pixguard.monitoring.signals import JobSignals, Totals
from pixguard.monitoring.store import append_metrics, metrics_row

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.monitoring.listener import MetricsListener
    from pixguard.stream.serving import ServingPublisher

log = logging.getLogger("pixguard.monitoring")

MAX_PENDING_ROWS = 10_000


class JobMonitor:
    def __init__(
        self,
        settings: MonitoringSettings,
        job: str,
        sinks: Iterable[AlertSink],
        clock: Callable[[], float] = time.time,
        open_alerts_file: Path | None = None,
        quarantine_reasons: Iterable[str] = (),
        batch_query: str = "decisions_archive",
    ) -> None:
        self.settings, self.job, self.sinks, self.clock = settings, job, list(sinks), clock
        # The alerts firing, kept across restarts: a new run resolves those the last one left open,
        # so a consumer pairing firings and resolutions by alert_id never holds one open for ever.
        self.open_alerts_file = open_alerts_file
        self.signals = JobSignals(settings.rate_window_s, settings.rate_min_rows)
        self.evaluator = AlertEvaluator(settings.alerts, job)
        self.events: list[AlertEvent] = []  # every event sent, oldest first (the last 1000)
        self.fired_total: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._terminated = threading.Condition(self._lock)
        self._terminated_names: set[str] = set()
        # The query whose progress events carry the archived batches' figures, and how to read them.
        self._batch_query = batch_query
        self._quarantine_reasons = list(quarantine_reasons)
        self._serving: ServingPublisher | None = None
        self._rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.endpoint: MetricsEndpoint | None = None
        self._listener: MetricsListener | None = None
        self._spark: SparkSession | None = None
        self._store_path: str | None = None

    # -- inputs ---------------------------------------------------------------------------------

    def on_started(self, query: str) -> None:
        with self._lock:
            self.signals.started(query, self.clock())
            self._terminated_names.discard(query)

    def on_idle(self, query: str) -> None:
        with self._lock:
            self.signals.idle(query, self.clock())

    def on_progress(self, progress: ProgressMetrics) -> None:
        from pixguard.stream.archive import BATCH_METRICS

        with self._lock:
            now = self.clock()
            self.signals.progress(progress, now)
            batch = None
            if progress.query == self._batch_query and BATCH_METRICS in progress.observed:
                batch = from_observed(progress.batch_id, progress.observed[BATCH_METRICS], self._quarantine_reasons)
                self.on_batch(batch)
            self._rows.append(metrics_row(self.job, progress, batch, datetime.fromtimestamp(now, UTC)))
            # Rows wait for the stream_metrics writer: bounded, for a job without one (the streaming
            # job) or a writer failing for hours.
            del self._rows[:-MAX_PENDING_ROWS]

    def on_terminated(self, query: str, exception: str | None = None) -> None:
        if exception:
            log.error("query %s terminated with an error: %s", query, exception.splitlines()[0][:500])
        with self._lock:
            self.signals.terminated(query)
            self._terminated_names.add(query)
            self._terminated.notify_all()

    def on_batch(self, metrics: BatchMetrics) -> None:
        """An archived batch (the archive job's monitor)."""
        with self._lock:
            self.signals.batch(metrics, self.clock(), disabled_rules_error(metrics.rules_version))

    def _read_serving(self) -> None:
        """The registry and rules errors of the publisher, as they are now (the streaming job's monitor)."""
        if self._serving is not None:
            serving = self._serving
            self.signals.serving(serving.model_version, serving.rules_version, serving.model_error, serving.rules_error)

    def watch_serving(self, publisher: ServingPublisher) -> None:
        """Take the registry and rules errors of the driver that publishes what the hot path decides with."""
        with self._lock:
            self._serving = publisher

    # -- readings -------------------------------------------------------------------------------

    def view(self) -> JobView:
        with self._lock:
            self._read_serving()
            now = self.clock()
            latest = self.signals.latest_batch
            totals = self.signals.totals
            return JobView(
                job=self.job,
                queries=[
                    QueryView(q.name, q.latest, q.input_rows_total, q.batches_total, now - q.last_seen_at)
                    for q in self.signals.queries.values()
                ],
                totals=Totals(
                    totals.consumed,
                    totals.scored,
                    totals.unscored,
                    dict(totals.decisions),
                    dict(totals.quarantine_reasons),
                    list(totals.score_le_counts),
                    totals.score_sum,
                ),
                signals=self.signals.values(now),
                # The versions in force: those served (the streaming job), else the latest archived batch's.
                model_version=self.signals.served_versions[0] or (latest.model_version if latest else None),
                rules_version=self.signals.served_versions[1] or (latest.rules_version if latest else None),
                active_alerts=self.evaluator.active,
                fired_total=dict(self.fired_total),
            )

    def evaluate(self) -> list[AlertEvent]:
        """Run the rules once and send what they produce."""
        with self._lock:
            self._read_serving()
            now = self.clock()
            events = self.evaluator.evaluate(
                self.signals.values(now), datetime.fromtimestamp(now, UTC), self.signals.details()
            )
            for event in events:
                if event.status == "firing":
                    self.fired_total[event.rule] += 1
            self.events = [*self.events, *events][-1000:]
            if events:
                self._record_open_alerts(self.evaluator.active)
        dispatch(events, self.sinks)  # outside the lock: a slow sink must not block the listener
        return events

    def resolve_alerts_left_open(self) -> list[AlertEvent]:
        """Send the resolution of every alert the job's previous run left firing."""
        if self.open_alerts_file is None or not self.open_alerts_file.exists():
            return []
        try:
            left_open = [AlertEvent.from_json(body) for body in json.loads(self.open_alerts_file.read_text())]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.error("cannot read the alerts left open in %s: %s", self.open_alerts_file, exc)
            left_open = []
        now = datetime.fromtimestamp(self.clock(), UTC)
        events = [event.superseded(now) for event in left_open]
        with self._lock:
            self.events = [*self.events, *events][-1000:]
            self._record_open_alerts(self.evaluator.active)
        dispatch(events, self.sinks)
        return events

    def _record_open_alerts(self, active: list[AlertEvent]) -> None:
        """Best effort: a file that cannot be written costs the next run its resolutions, never an
        alert of this one."""
        if self.open_alerts_file is None:
            return
        try:
            self.open_alerts_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.open_alerts_file.with_suffix(".partial")
            partial.write_text(json.dumps([event.to_json() for event in active]))
            partial.replace(self.open_alerts_file)
        except OSError as exc:
            log.error("cannot record the open alerts in %s: %s", self.open_alerts_file, exc)

    def take_rows(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
            return rows

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, spark: SparkSession, store_path: str | None) -> JobMonitor:
        """Listener, endpoint, alert timer and (with a path) the stream_metrics writer."""
        from pixguard.monitoring.listener import MetricsListener

        install_log_masking()
        self._spark, self._store_path = spark, store_path
        self.resolve_alerts_left_open()
        self._listener = MetricsListener(self)
        spark.streams.addListener(self._listener)
        running = {str(q.id): q.name or str(q.id) for q in spark.streams.active}
        self._listener.already_running(running)
        for name in running.values():
            self.on_started(name)
        host, port = self.settings.metrics_host, self.settings.metrics_port
        try:
            self.endpoint = MetricsEndpoint(self.view, host, port)
            log.info("metrics of job %s on http://%s:%s/metrics", self.job, host, self.port)
        except OSError as exc:  # a taken port costs the endpoint, never the scoring; alerts still run
            log.error("no metrics endpoint for job %s: cannot listen on %s:%s (%s)", self.job, host, port, exc)
        self._every(self.settings.evaluation_interval_s, self.evaluate, "pixguard-alerts")
        if store_path is not None:
            self._every(self.settings.store_interval_s, self.flush, "pixguard-metrics-store")
        return self

    @property
    def port(self) -> int | None:
        return self.endpoint.port if self.endpoint else None

    def _every(self, interval_s: float, action: Callable[[], object], name: str) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    action()
                except Exception:  # noqa: BLE001 - a failed round is retried on the next tick
                    log.exception("%s failed", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def flush(self) -> int:
        """Append the rows gathered so far to stream_metrics; returns how many."""
        if self._spark is None or self._store_path is None:
            return 0
        rows = self.take_rows()
        try:
            append_metrics(self._spark, self._store_path, rows)
        except Exception:
            with self._lock:  # keep them for the next round
                self._rows = (rows + self._rows)[-MAX_PENDING_ROWS:]
            raise
        return len(rows)

    def await_terminated(self, queries: Iterable[str], timeout_s: float = 30.0) -> bool:
        """The listener bus delivers events after the fact: wait until it has told us these ended."""
        wanted = set(queries)
        with self._terminated:
            return self._terminated.wait_for(lambda: wanted <= self._terminated_names, timeout=timeout_s)

    def stop(self, queries: Iterable[str] = ()) -> None:
        """Stop the timers and the endpoint; write what is left. `queries`: names whose termination
        events should be received first, so their last progress reports are in the table. Idempotent."""
        if self._stop.is_set():
            return
        if queries:
            self.await_terminated(queries)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        try:
            self.evaluate()
            self.flush()
        finally:
            if self._spark is not None and self._listener is not None:
                self._spark.streams.removeListener(self._listener)
            if self.endpoint is not None:
                self.endpoint.stop()


def start_job_monitor(
    spark: SparkSession, bundle: Bundle, config: StreamingConfig, job: str, port: int, store: bool
) -> JobMonitor | None:
    """The monitor of one of the bundle's streaming jobs, serving Prometheus on `port` and, with
    `store`, appending stream_metrics; None when monitoring is disabled."""
    if not config.monitoring.enabled:
        return None
    from pixguard.domain.contract import load_transaction_checks
    from pixguard.stream.validate import quarantine_reason_codes

    name = f"{bundle.name}-{job}"
    reasons = quarantine_reason_codes(load_transaction_checks(bundle.project_root))
    monitor = JobMonitor(
        config.monitoring.model_copy(update={"metrics_port": port}),
        name,
        ops_alert_sinks(bundle, config),
        open_alerts_file=bundle.state_dir / "run" / f"{name}-open-alerts.json",
        quarantine_reasons=reasons,
    )
    return monitor.start(spark, bundle.target.table_path(config.tables.stream_metrics) if store else None)


def disabled_rules_error(rules_version: str | None) -> str | None:
    """A rule the executors disabled (it failed on a payment) shows in the rules version decisions carry."""
    if not rules_version or "-without-" not in rules_version:
        return None
    version, codes = rules_version.split("-without-", 1)
    return (
        f"rule {codes.replace('+', ', ')} of version {version} failed on a payment and is disabled on the"
        " executors until the rules change; the other rules stay in force"
    )
