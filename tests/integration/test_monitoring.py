"""Monitoring of the real decision query on the real broker: the listener's figures match the tables,
and each induced condition (a flood of malformed records, records decided late, a stalled batch)
fires its alert once on Kafka pix.ops-alerts and resolves it once.

Conditions are induced, never raced against the clock: the flood is 100% malformed against a 50%
rule; the late records happened 10 minutes before they reach the job, against a 5-minute latency
rule (normal latency on this shared machine was seen between 1 and 65 s, so a threshold a held batch
could cross in a test's time would not stay clear of normal traffic); a brake holds one batch well
beyond a stall threshold that is itself well above the batch durations seen during the test."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from pixguard.config import AlertRule
from pixguard.domain.contract import load_transaction_checks
from pixguard.infra.producer import make_producer, publish
from pixguard.monitoring.alert_sinks import ops_alert_sinks
from pixguard.monitoring.job_monitor import JobMonitor
from pixguard.stream.archive import DECISIONS_ARCHIVE_QUERY, start_archive_queries
from pixguard.stream.hot_path import HOT_PATH_QUERY
from pixguard.stream.job import start_hot_path_query
from pixguard.stream.validate import quarantine_reason_codes
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_hot_reload import wait_for
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration

FLOOD = AlertRule(name="quarantine_flood", metric="quarantine_rate", comparison=">", threshold=0.5)


LATE_S = 600
SLOW = AlertRule(name="decisions_slow", metric="decision_latency_p99_ms", comparison=">", threshold=300_000)


def stalled_rule(normal_batch_ms: float) -> AlertRule:
    threshold = max(45.0, 4 * normal_batch_ms / 1000)
    return AlertRule(
        name="stalled", metric="seconds_since_progress", comparison=">", threshold=threshold, severity="critical"
    )


class Brake:
    """A query of the job's session whose next batch is held for `seconds` when asked: a stalled query,
    which the monitor must notice from the silence of its progress reports alone."""

    def __init__(self, spark, checkpoint: str) -> None:  # noqa: ANN001
        self.seconds = 0.0
        self.query = (
            spark.readStream.format("rate")
            .option("rowsPerSecond", 1)
            .load()
            .writeStream.queryName("brake")
            .option("checkpointLocation", checkpoint)
            .foreachBatch(self._batch)
            .trigger(processingTime="1 second")
            .start()
        )

    def _batch(self, _df, _batch_id) -> None:  # noqa: ANN001
        seconds, self.seconds = self.seconds, 0.0
        if seconds:
            time.sleep(seconds)


def test_listener_figures_and_alerts_on_induced_conditions(spark, isolated) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    bundle, config = isolated
    monitoring = config.monitoring.model_copy(
        update={
            "metrics_host": "127.0.0.1",
            "metrics_port": 0,
            "evaluation_interval_s": 0.5,
            "rate_window_s": 0,  # each batch judged on its own
            "rate_min_rows": 1,
            "store_interval_s": 2,
            "alerts": [],
        }
    )
    config = config.model_copy(
        update={
            "monitoring": monitoring,
            "archive_trigger_interval_s": 1.0,  # the archive's batches carry the decided figures
            # no registry here: ask it once, not every few seconds
            "scoring": config.scoring.model_copy(update={"model_check_interval_s": 3600}),
        }
    )
    store_path = bundle.target.table_path(config.tables.stream_metrics)
    producer = make_producer(bundle.target.kafka)
    stamp = f"{datetime.now(UTC):%Y%m%d%H%M}"
    sent = {"valid": 0, "malformed": 0}

    def send_valid(count: int, late_s: float = 0) -> None:
        event_time = datetime.now(UTC) - timedelta(seconds=late_s)
        messages = [
            good_message(
                end_to_end_id=f"E60746948{stamp}{uuid.uuid4().hex[:11]}",
                event_time=event_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                payer_document=valid_cpf(i),
            )
            for i in range(count)
        ]
        publish(producer, config.topics.transactions.name, [(b"k", json.dumps(m).encode()) for m in messages])
        sent["valid"] += count

    def send_malformed(count: int) -> None:
        publish(producer, config.topics.transactions.name, [(b"bad", b"{not json %d" % i) for i in range(count)])
        sent["malformed"] += count

    def monitor_for(rule: AlertRule | None, path: str | None = None) -> JobMonitor:
        """One monitor per induced condition, each with its own rule: a held batch is both a slow and a
        stalled batch, and each scenario must only count the alert it induces."""
        settings = monitoring.model_copy(update={"alerts": [rule] if rule else []})
        monitor = JobMonitor(settings, "test-job", ops_alert_sinks(bundle, config), quarantine_reasons=reasons)
        return monitor.start(spark, path)

    def await_statuses(monitor: JobMonitor, expected: list[str], timeout_s: float = 120, feed: bool = False) -> None:
        """Wait until the monitor's events are `expected`. `feed` sends fresh records one small burst at a
        time, each once the previous one was decided: a batch without decisions has no latency (and an
        unknown value resolves nothing), while records sent during a running batch would wait for it."""
        deadline = time.monotonic() + timeout_s
        while [e.status for e in monitor.events] != expected:
            if time.monotonic() > deadline:
                seen = [(e.rule, e.status, e.value, f"{e.at:%H:%M:%S}") for e in monitor.events]
                raise AssertionError(f"expected {expected}, got {seen}; signals: {monitor.view().signals}")
            if feed:
                consumed = truth.signals.totals.consumed
                send_valid(3)
                wait_for(lambda c=consumed: truth.signals.totals.consumed >= c + 3, 300, "fed records decided")
            time.sleep(2)

    # Warm up the queries first (the first batches pay for the connector and the state stores);
    # monitors attach to the running queries, as they would after a restart of the monitor.
    reasons = quarantine_reason_codes(load_transaction_checks(bundle.project_root))
    hot_path, publisher = start_hot_path_query(spark, bundle, config)
    queries = [hot_path, *start_archive_queries(spark, bundle, config, reasons, available_now=False)]
    decisions_path = bundle.target.table_path(config.tables.decisions)
    monitors: list[JobMonitor] = []
    brake = Brake(spark, bundle.target.checkpoint_path("brake"))
    queries.append(brake.query)

    def archived() -> int:
        try:
            return spark.read.format("delta").load(decisions_path).count()
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    try:
        send_valid(5)
        wait_for(lambda: archived() >= 5, 300, what="warm-up decisions archived")
        archive = queries[1]
        warm = (archive.lastProgress or {}).get("batchId", -1)
        wait_for(lambda: (archive.lastProgress or {}).get("batchId", -1) > warm, what="a report after the warm-up")
        truth = monitor_for(None, store_path)
        monitors.append(truth)

        # 1. a flood of malformed records, then good traffic again
        flood = monitor_for(FLOOD)
        monitors.append(flood)
        send_malformed(30)
        await_statuses(flood, ["firing"])
        send_valid(40)
        await_statuses(flood, ["firing", "resolved"])
        flood.stop()

        # 2. records decided late (held upstream), then on time again
        slow = monitor_for(SLOW)
        monitors.append(slow)
        send_valid(10, late_s=LATE_S)
        await_statuses(slow, ["firing"])
        await_statuses(slow, ["firing", "resolved"], 240, feed=True)
        slow.stop()

        # 3. a stalled query: no progress report for longer than the rule allows
        stall_alert = stalled_rule(max(p["batchDuration"] for p in brake.query.recentProgress))
        stalled = monitor_for(stall_alert)
        monitors.append(stalled)
        brake.seconds = stall_alert.threshold + 15
        await_statuses(stalled, ["firing"], stall_alert.threshold + 120)
        await_statuses(stalled, ["firing", "resolved"], 180)
        stalled.stop()

        expected_rows = sent["valid"] - 5 + sent["malformed"]
        wait_for(lambda: truth.signals.totals.consumed == expected_rows, 120, "every record observed")
        scraped = scrape_families(truth.port)
    finally:
        for query in queries:
            query.stop()
        publisher.stop()
        for monitor in reversed(monitors):  # the truth monitor last, once the queries' end is reported
            monitor.stop(queries=[q.name for q in queries] if monitor is monitors[0] else ())

    # Each alert reached Kafka exactly twice: fired once, resolved once, as one episode.
    published = defaultdict(list)
    for key, event in read_topic(bundle.target.kafka, config.topics.ops_alerts.name):
        published[key].append(event)
    assert {rule: [e["status"] for e in events] for rule, events in published.items()} == {
        rule.name: ["firing", "resolved"] for rule in (FLOOD, SLOW, stall_alert)
    }
    assert all(len({e["alert_id"] for e in events}) == 1 for events in published.values())
    assert (
        published["stalled"][0]["severity"] == "critical" and published["stalled"][0]["value"] > stall_alert.threshold
    )

    # The archive's figures (observed with each of its batches) match the tables.
    decisions = spark.read.format("delta").load(decisions_path)
    quarantine = spark.read.format("delta").load(bundle.target.table_path("quarantine"))
    metrics = spark.read.format("delta").load(store_path)
    archived_rows = metrics.where(F.col("query") == DECISIONS_ARCHIVE_QUERY).collect()
    assert sum(r.consumed or 0 for r in archived_rows) == expected_rows
    assert sum(r.scored or 0 for r in archived_rows) == decisions.count() - 5 == sent["valid"] - 5
    assert sum(r.quarantined or 0 for r in archived_rows) == quarantine.count() == sent["malformed"]
    assert sum((r.approve or 0) + (r.review or 0) + (r.block or 0) for r in archived_rows) == sent["valid"] - 5
    # Latency runs from the payment to its decision on Kafka (the broker's timestamp of its outcome).
    latencies = [epoch_ms(r.published_at) - epoch_ms(r.event_time) for r in decisions.collect()]
    assert all(lat >= 0 for lat in latencies)
    assert max(r.latency_max_ms or 0 for r in archived_rows) <= max(latencies)
    slowest = max((r for r in archived_rows if r.latency_p99_ms is not None), key=lambda r: r.latency_p99_ms)
    assert slowest.latency_p99_ms > SLOW.threshold  # the batch that fired the latency alert is in the table
    hot_rows = sorted(metrics.where(F.col("query") == HOT_PATH_QUERY).collect(), key=lambda r: r.progress_at)
    assert hot_rows and hot_rows[-1].kafka_lag_records == 0  # everything read by the end

    # The scrape said the same.
    assert scraped[("pixguard_consumed_records_total", ())] == expected_rows
    assert scraped[("pixguard_quarantined_total", (("reason", "malformed_json"),))] == sent["malformed"]
    decided_total = sum(v for (name, _), v in scraped.items() if name == "pixguard_decisions_total")
    assert decided_total == sent["valid"] - 5


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, floored like Spark's unix_millis (timestamps come back naive UTC)."""
    return (moment - datetime(1970, 1, 1)) // timedelta(milliseconds=1)


def scrape_families(port: int) -> dict[tuple, float]:
    from pixguard.cli.monitor import scrape

    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in scrape(f"http://127.0.0.1:{port}/metrics")}
