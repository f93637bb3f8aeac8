"""From Spark's progress reports and decided batches to alert signals, and through the monitor to
alert events: Kafka lag from offsets, windowed rates, silence as a stall, watcher errors as alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pixguard.config import AlertRule, MonitoringSettings
from pixguard.monitoring.alerts import AlertEvent
from pixguard.monitoring.batch_metrics import SCORE_BUCKETS, BatchMetrics, LatencyMs
from pixguard.monitoring.job_monitor import JobMonitor
from pixguard.monitoring.progress import kafka_lag, progress_metrics
from pixguard.monitoring.signals import JobSignals


def progress_report(
    batch_id: int, end: dict, latest: dict, rows: int = 10, name: str = "decisions", start: dict | None = None
) -> dict:
    """Shaped like StreamingQueryProgress.json of a Kafka source with two stateful operators."""
    return {
        "id": "3f1c9a52-0000-4000-8000-000000000001",
        "runId": "9d2b7e10-0000-4000-8000-000000000002",
        "name": name,
        "timestamp": "2026-11-25T12:00:00.500Z",
        "batchId": batch_id,
        "batchDuration": 1450,
        "numInputRows": rows,
        "inputRowsPerSecond": 20.0,
        "processedRowsPerSecond": 6.9,
        "durationMs": {"addBatch": 1200, "latestOffset": 5, "triggerExecution": 1450},
        "stateOperators": [
            {"operatorName": "transformWithStateExec", "numRowsTotal": 40, "memoryUsedBytes": 1000},
            {"operatorName": "transformWithStateExec", "numRowsTotal": 2, "memoryUsedBytes": 500},
        ],
        "sources": [
            {
                "description": "KafkaV2[Subscribe[pix.transactions]]",
                "startOffset": json.dumps(start) if start is not None else None,
                "endOffset": json.dumps(end),
                "latestOffset": json.dumps(latest),
                "numInputRows": rows,
            }
        ],
        "sink": {"description": "ForeachBatchSink"},
    }


def batch(batch_id: int, consumed: int, quarantined: int = 0, block: int = 0, p99: float = 100.0) -> BatchMetrics:
    scored = consumed - quarantined
    return BatchMetrics(
        batch_id=batch_id,
        consumed=consumed,
        scored=scored,
        quarantined=quarantined,
        duplicates=0,
        decisions={"APPROVE": scored - block, "REVIEW": 0, "BLOCK": block},
        latency_ms=LatencyMs(p50=p99 / 2, p95=p99 * 0.9, p99=p99, max=p99) if scored else None,
        score_le_counts=tuple([0] * len(SCORE_BUCKETS)),
        score_sum=0.0,
        unscored=scored,
        model_version=None,
        rules_version="r1",
        quarantine_reasons={"malformed_json": quarantined} if quarantined else {},
    )


def test_progress_report_to_metrics() -> None:
    report = progress_report(7, {"pix.transactions": {"0": 100, "1": 90}}, {"pix.transactions": {"0": 130, "1": 95}})
    metrics = progress_metrics(report)
    assert metrics.query == "decisions" and metrics.batch_id == 7 and metrics.input_rows == 10
    assert metrics.timestamp == datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=UTC)
    assert metrics.batch_duration_ms == 1450 and metrics.trigger_execution_ms == 1450
    assert metrics.state_rows == 42 and metrics.state_memory_bytes == 1500
    assert metrics.kafka_lag_records == 35  # (130 - 100) + (95 - 90)


def test_input_rows_are_the_records_read_not_spark_rows_of_every_scan() -> None:
    start, end = {"pix.transactions": {"0": 100, "1": 90}}, {"pix.transactions": {"0": 130, "1": 95}}
    # the decision query scans its topic twice (valid and quarantined branches): Spark says 70 for 35 records
    metrics = progress_metrics(progress_report(8, end, end, rows=70, start=start))
    assert metrics.input_rows == 35
    assert metrics.input_rows_per_second == 10.0 and metrics.processed_rows_per_second == 6.9 / 2
    first_batch = progress_metrics(progress_report(0, end, end, rows=70, start=None))
    assert first_batch.input_rows == 70  # no start offsets: Spark's count is all there is


def test_kafka_lag_is_unknown_without_offsets_and_never_negative() -> None:
    assert kafka_lag([{"endOffset": None, "latestOffset": None}]) is None
    assert kafka_lag([{"endOffset": {"t": {"0": 10}}, "latestOffset": {"t": {"0": 8}}}]) == 0
    # a partition the batch has not read yet is not counted (its start is unknown here)
    assert kafka_lag([{"endOffset": {"t": {"0": 10}}, "latestOffset": {"t": {"0": 12, "1": 50}}}]) == 2


def test_rates_over_the_window_and_the_minimum_rows() -> None:
    signals = JobSignals(rate_window_s=60, rate_min_rows=20)
    signals.batch(
        batch(1, consumed=10, quarantined=1),
        at=0,
    )
    assert signals.values(now=1)["quarantine_rate"] is None  # 10 rows: too few to call it a rate
    signals.batch(
        batch(2, consumed=30, quarantined=3, block=2, p99=900),
        at=30,
    )
    values = signals.values(now=31)
    assert values["quarantine_rate"] == 4 / 40 and values["block_rate"] == 2 / 36
    assert values["decision_latency_p99_ms"] == 900
    signals.batch(
        batch(3, consumed=25, p99=50),
        at=100,
    )
    values = signals.values(now=500)  # batches 1 and 2 left the window; the last batch stays known
    assert values["quarantine_rate"] == 0.0 and values["decision_latency_p99_ms"] == 50


def test_silence_grows_seconds_since_progress_and_idle_counts_as_alive() -> None:
    signals = JobSignals(rate_window_s=60, rate_min_rows=1)
    signals.started("decisions", at=100)
    assert signals.values(now=130)["seconds_since_progress"] == 30
    signals.idle("decisions", at=140)
    assert signals.values(now=150)["seconds_since_progress"] == 10
    signals.terminated("decisions")
    assert signals.values(now=500)["seconds_since_progress"] is None


def test_lag_growth_over_the_window() -> None:
    signals = JobSignals(rate_window_s=60, rate_min_rows=1)
    lags = [(0, 10), (30, 40), (60, 80), (90, 150)]
    for i, (at, lag) in enumerate(lags):
        signals.progress(progress_metrics(progress_report(i, {"t": {"0": 0}}, {"t": {"0": lag}})), at=at)
    values = signals.values(now=90)
    assert values["kafka_lag_records"] == 150
    assert values["kafka_lag_growth_records"] == 150 - 40  # baseline: the last point at or before 90 - 60


class Recorder:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def send(self, event: AlertEvent) -> None:
        self.events.append(event)


class Broken:
    def send(self, event: AlertEvent) -> None:
        raise ConnectionError("broker down")


def monitor_with(rules: list[dict], clock: list[float]) -> tuple[JobMonitor, Recorder]:
    settings = MonitoringSettings(
        rate_window_s=0, rate_min_rows=1, alerts=[AlertRule.model_validate(r) for r in rules], metrics_port=0
    )
    recorder = Recorder()
    return JobMonitor(settings, "test-job", [Broken(), recorder], clock=lambda: clock[0]), recorder


class Serving:
    """What the monitor reads of the streaming job's serving publisher."""

    model_version, rules_version, model_error, rules_error = "6", "r1", None, None


def test_monitor_turns_a_stall_and_a_model_failure_into_one_firing_and_one_resolution_each() -> None:
    clock = [1000.0]
    monitor, recorder = monitor_with(
        [
            {"name": "no_progress", "metric": "seconds_since_progress", "comparison": ">", "threshold": 60},
            {"name": "model_reload_failed", "metric": "model_reload_failing", "comparison": ">=", "threshold": 1},
        ],
        clock,
    )
    serving = Serving()
    monitor.watch_serving(serving)  # type: ignore[arg-type]
    monitor.on_started("decisions")

    def refused(error: str | None) -> None:
        serving.model_error = error

    steps = [
        (10, lambda: None),
        (10, lambda: refused("model models:/pix/7 refused: no signature")),
        (30, lambda: None),
        (30, lambda: None),  # 70 s without a progress event
        (1, lambda: monitor.on_progress(progress_metrics(progress_report(1, {"t": {"0": 5}}, {"t": {"0": 5}})))),
        (1, lambda: refused(None)),
        (30, lambda: None),
    ]
    for advance, action in steps:
        clock[0] += advance
        action()
        monitor.evaluate()
    assert [(e.rule, e.status) for e in recorder.events] == [
        ("model_reload_failed", "firing"),
        ("no_progress", "firing"),
        ("no_progress", "resolved"),
        ("model_reload_failed", "resolved"),
    ]
    assert "models:/pix/7 refused" in recorder.events[0].summary
    assert monitor.fired_total == {"model_reload_failed": 1, "no_progress": 1}
    assert (monitor.view().model_version, monitor.view().rules_version) == ("6", "r1")


def test_without_a_serving_publisher_or_a_batch_the_reload_signals_are_unknown() -> None:
    """The archive job's monitor before its first batch holds both alerts instead of guessing."""
    signals = JobSignals(rate_window_s=60, rate_min_rows=1)
    assert signals.values(now=0)["model_reload_failing"] is None
    assert signals.values(now=0)["rules_reload_failing"] is None
    signals.batch(batch(1, consumed=5), at=0, disabled_rules_error="rule R2 failed on a payment")
    values = signals.values(now=1)
    assert values["model_reload_failing"] is None and values["rules_reload_failing"] == 1.0


def archived(batch_id: int, observed: dict) -> dict:
    """A decisions archive progress report carrying its batch's observed metrics, as Spark writes them."""
    report = progress_report(batch_id, {"l": {"0": 12}}, {"l": {"0": 12}}, rows=12, name="decisions_archive")
    names = list(observed)
    report["observedMetrics"] = {
        "decided_batch": {"values": [observed[n] for n in names], "schema": {"fields": [{"name": n} for n in names]}}
    }
    return report


def test_the_archived_batch_figures_come_with_the_archive_progress_report_in_one_row() -> None:
    clock = [0.0]
    monitor, _ = monitor_with([], clock)
    monitor._quarantine_reasons = ["malformed_json"]
    figures = {
        "scored": 10,
        "quarantined_all": 2,
        "reason_malformed_json": 2,
        "decision_APPROVE": 10,
        "rules_version": "r1",
    }
    monitor.on_progress(progress_metrics(archived(4, figures)))
    monitor.on_progress(progress_metrics(progress_report(9, {"t": {"0": 1}}, {"t": {"0": 1}}, name="raw_ingest")))
    rows = monitor.take_rows()
    assert [(r.get("query"), r["batch_id"], r.get("consumed")) for r in rows] == [
        ("decisions_archive", 4, 12),
        ("raw_ingest", 9, None),
    ]
    assert rows[0]["input_rows"] == 12 and rows[0]["quarantine_reasons"] == {"malformed_json": 2}
    assert monitor.signals.values(clock[0])["rules_reload_failing"] == 0.0


def test_a_rule_disabled_on_the_executors_raises_the_rules_signal() -> None:
    monitor, _ = monitor_with([], [0.0])
    figures = {"scored": 3, "decision_REVIEW": 3, "rules_version": "2+ab12cd34-without-RATIO"}
    monitor.on_progress(progress_metrics(archived(1, figures)))
    assert monitor.signals.values(0.0)["rules_reload_failing"] == 1.0
    assert "rule RATIO of version 2+ab12cd34 failed on a payment" in monitor.signals.details()["rules_reload_failing"]


def test_a_restarted_job_resolves_the_alerts_its_previous_run_left_firing(tmp_path) -> None:  # noqa: ANN001
    clock = [1000.0]
    rules = [{"name": "no_progress", "metric": "seconds_since_progress", "comparison": ">", "threshold": 60}]
    open_alerts = tmp_path / "run" / "test-job-open-alerts.json"
    first_run, first_sink = monitor_with(rules, clock)
    first_run.open_alerts_file = open_alerts
    first_run.on_started("decisions")
    clock[0] += 120
    (fired,) = first_run.evaluate()  # then the process is killed: no resolution is ever sent
    assert fired.status == "firing" and open_alerts.exists()

    clock[0] += 30
    second_run, second_sink = monitor_with(rules, clock)
    second_run.open_alerts_file = open_alerts
    (resolved,) = second_run.resolve_alerts_left_open()
    assert (resolved.alert_id, resolved.status, resolved.rule) == (fired.alert_id, "resolved", "no_progress")
    assert resolved.started_at == fired.started_at and resolved.at.timestamp() == 1150.0
    assert resolved.summary.startswith("resolved: superseded, the job restarted")
    assert second_sink.events == [resolved]
    third_run, _ = monitor_with(rules, clock)
    third_run.open_alerts_file = open_alerts
    assert third_run.resolve_alerts_left_open() == []  # resolved once only


def test_rows_waiting_for_a_writer_are_bounded() -> None:
    """The streaming job's monitor has no stream_metrics writer: its rows must not pile up for ever."""
    from pixguard.monitoring import job_monitor

    monitor, _ = monitor_with([], [0.0])
    for batch_id in range(job_monitor.MAX_PENDING_ROWS + 5):
        monitor.on_progress(progress_metrics(progress_report(batch_id, {"t": {"0": 1}}, {"t": {"0": 1}})))
    rows = monitor.take_rows()
    assert len(rows) == job_monitor.MAX_PENDING_ROWS and rows[-1]["batch_id"] == job_monitor.MAX_PENDING_ROWS + 4
