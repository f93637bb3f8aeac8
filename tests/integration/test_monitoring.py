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
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pixguard.config import AlertRule
from pixguard.monitoring.job_monitor import JobMonitor, alert_sinks
from pixguard.producer import make_producer, publish
from pixguard.stream.job import DECISIONS_QUERY, start_decision_query
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
    """A batch observer that holds one micro-batch for `seconds` when asked: a slowed or stalled job."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.holding = threading.Event()

    def __call__(self, _decisions, _outcome) -> None:  # noqa: ANN001
        seconds, self.seconds = self.seconds, 0.0
        if seconds:
            self.holding.set()
            time.sleep(seconds)
            self.holding.clear()


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
            "trigger_interval_s": 0.5,
            # no registry here: ask it once, not every few seconds, so batches stay short
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
        monitor = JobMonitor(settings, "test-job", alert_sinks(bundle, config)).start(spark, path)
        monitor.observe(writer, DECISIONS_QUERY)
        return monitor

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

    # Warm up the query first (the first batch pays for the connector, state store and Python workers);
    # monitors attach to the running query, as they would after a restart of the monitor.
    query, writer = start_decision_query(spark, bundle, config)
    monitors: list[JobMonitor] = []
    try:
        send_valid(5)
        wait_for(lambda: len(writer.outcomes) >= 1, 300, what="warm-up batch")
        warm_batches = {o.batch_id for o in writer.outcomes}
        # its progress report is out: nothing of the warm-up reaches the monitor attached now
        wait_for(lambda: (query.lastProgress or {}).get("batchId", -1) >= max(warm_batches), what="warm-up report")
        truth = monitor_for(None, store_path)
        monitors.append(truth)
        brake = Brake()
        writer.observers.append(brake)

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

        # 3. a stalled batch: no progress report for longer than the rule allows
        stall_alert = stalled_rule(
            max(p["batchDuration"] for p in query.recentProgress if p["batchId"] > max(warm_batches))
        )
        stalled = monitor_for(stall_alert)
        monitors.append(stalled)
        brake.seconds = stall_alert.threshold + 15
        send_valid(5)
        await_statuses(stalled, ["firing"], stall_alert.threshold + 120)
        await_statuses(stalled, ["firing", "resolved"], 180)
        stalled.stop()

        expected_rows = sent["valid"] - 5 + sent["malformed"]
        wait_for(lambda: truth.signals.totals.consumed == expected_rows, 120, "every record observed")
        scraped = scrape_families(truth.port)
    finally:
        query.stop()
        for monitor in reversed(monitors):  # the truth monitor last, once the query's end is reported
            monitor.stop(queries=[DECISIONS_QUERY] if monitor is monitors[0] else ())

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

    # The listener's and the batch hook's figures match the tables.
    decisions = spark.read.format("delta").load(bundle.target.table_path("decisions"))
    decisions = decisions.where(~F.col("batch_id").isin(list(warm_batches)))
    quarantine = spark.read.format("delta").load(bundle.target.table_path("quarantine"))
    metrics = spark.read.format("delta").load(store_path).where(F.col("query") == DECISIONS_QUERY)
    rows = sorted(metrics.where(~F.col("batch_id").isin(list(warm_batches))).collect(), key=lambda r: r.progress_at)
    assert sum(r.input_rows for r in rows) == expected_rows  # listener: numInputRows of every progress report
    assert sum(r.consumed or 0 for r in rows) == expected_rows  # batch hook: records of every batch
    assert decisions.count() == sent["valid"] - 5 and quarantine.count() == sent["malformed"]
    assert sum(r.quarantined or 0 for r in rows) == sent["malformed"]
    assert rows and rows[-1].kafka_lag_records == 0  # everything read by the end

    by_batch = defaultdict(list)
    for r in decisions.select("batch_id", "decided_at", "event_time", "decision").collect():
        by_batch[r.batch_id].append(r)
    decided_batches = [r for r in rows if r.scored]
    assert {r.batch_id for r in decided_batches} == set(by_batch)
    for row in decided_batches:
        batch = by_batch[row.batch_id]
        latencies = [epoch_ms(d.decided_at) - epoch_ms(d.event_time) for d in batch]
        assert row.scored == len(batch)
        assert row.approve + row.review + row.block == len(batch)
        assert row.block == sum(d.decision == "BLOCK" for d in batch)
        # The monitoring runs to the batch's decisions on Kafka, one instant after decided_at (which is
        # stamped when the batch starts deciding): every figure is the decided_at one plus that gap.
        publish_gap = row.latency_max_ms - max(latencies)
        assert publish_gap > 0
        assert row.latency_p50_ms == pytest.approx(np.percentile(latencies, 50) + publish_gap)
        assert row.latency_p99_ms == pytest.approx(np.percentile(latencies, 99) + publish_gap)
    slowest = max(decided_batches, key=lambda r: r.latency_p99_ms)
    assert slowest.latency_p99_ms > SLOW.threshold  # the batch that fired the latency alert is in the table

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
