"""A real HTTP client scrapes the job's endpoint; the exposition parses and says what the monitor holds."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from pixguard.cli.monitor import job_view, scrape
from pixguard.config import AlertRule, MonitoringSettings, load_streaming_config
from pixguard.monitoring.batch_metrics import BatchMetrics, LatencyMs
from pixguard.monitoring.job_monitor import JobMonitor
from pixguard.monitoring.progress import progress_metrics
from pixguard.monitoring.prometheus import MetricsEndpoint
from tests.unit.test_monitoring_signals import progress_report


def scored_batch() -> BatchMetrics:
    return BatchMetrics(
        batch_id=3,
        consumed=10,
        scored=8,
        quarantined=1,
        duplicates=1,
        decisions={"APPROVE": 5, "REVIEW": 2, "BLOCK": 1},
        latency_ms=LatencyMs(p50=400.0, p95=900.0, p99=1500.0, max=1600.0),
        score_le_counts=(2, 3, 3, 3, 4, 5, 5, 6, 7, 8),
        score_sum=3.5,
        unscored=0,
        model_version="7",
        rules_version="2026.11.1+ab12",
        quarantine_reasons={"malformed_json": 1, "payer 529.982.247-25": 0},
    )


def started_monitor() -> JobMonitor:
    rule = AlertRule(name="latency_high", metric="decision_latency_p99_ms", comparison=">", threshold=1000)
    settings = MonitoringSettings(metrics_host="127.0.0.1", metrics_port=0, rate_min_rows=1, alerts=[rule])
    monitor = JobMonitor(settings, "test-job", sinks=[])
    monitor._batch_query = "decisions"
    monitor.on_started("decisions")
    monitor.on_batch(scored_batch())
    end, latest = {"pix.transactions": {"0": 10, "1": 0}}, {"pix.transactions": {"0": 14, "1": 3}}
    monitor.on_progress(progress_metrics(progress_report(3, end, latest, rows=10)))
    monitor.evaluate()
    monitor.endpoint = MetricsEndpoint(monitor.view, "127.0.0.1", 0)
    return monitor


def test_scrape_parses_and_matches_the_monitor() -> None:
    monitor = started_monitor()
    try:
        url = f"http://127.0.0.1:{monitor.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            text = response.read().decode()
    finally:
        monitor.endpoint.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

    assert families["pixguard_decisions"].type == "counter"
    assert samples[("pixguard_decisions_total", (("decision", "BLOCK"),))] == 1
    assert samples[("pixguard_decisions_total", (("decision", "APPROVE"),))] == 5
    assert samples[("pixguard_consumed_records_total", ())] == 10
    assert samples[("pixguard_quarantined_total", (("reason", "duplicate_end_to_end_id"),))] == 1
    assert samples[("pixguard_query_kafka_lag_records", (("query", "decisions"),))] == 7
    assert samples[("pixguard_query_input_rows_total", (("query", "decisions"),))] == 10
    assert samples[("pixguard_query_state_rows", (("query", "decisions"),))] == 42
    assert samples[("pixguard_job_decision_latency_p99_ms", ())] == 1500
    assert samples[("pixguard_job_quarantine_rate", ())] == 0.2

    assert families["pixguard_score"].type == "histogram"
    assert samples[("pixguard_score_bucket", (("le", "0.5"),))] == 4
    assert samples[("pixguard_score_bucket", (("le", "+Inf"),))] == 8
    assert samples[("pixguard_score_count", ())] == 8 and samples[("pixguard_score_sum", ())] == 3.5

    assert samples[("pixguard_model_info", (("model_version", "7"), ("rules_version", "2026.11.1+ab12")))] == 1
    assert samples[("pixguard_alert_active", (("rule", "latency_high"), ("severity", "warning")))] == 1
    assert samples[("pixguard_alerts_fired_total", (("rule", "latency_high"),))] == 1
    assert "529.982.247-25" not in text  # a label built from data is masked


def test_the_status_view_reads_a_scrape() -> None:
    monitor = started_monitor()
    try:
        lines = job_view(scrape(f"http://127.0.0.1:{monitor.port}/metrics"))
    finally:
        monitor.endpoint.stop()
    text = "\n".join(lines)
    assert "query decisions" in text and "lag 7" in text and "batch 3" in text
    assert "p99 1,500 ms" in text and "quarantine 20.00%" in text and "block 12.50%" in text
    assert "APPROVE 5" in text and "quarantined 2" in text
    assert "model   7, rules 2026.11.1+ab12" in text
    assert "alerts  [warning] latency_high" in text


def test_the_status_view_of_a_job_that_archives_no_batch_shows_no_empty_decision_figures() -> None:
    """The streaming job's endpoint: its queries and the versions it serves, no blank latency line."""
    settings = MonitoringSettings(metrics_host="127.0.0.1", metrics_port=0, alerts=[])
    monitor = JobMonitor(settings, "test-streaming", sinks=[])
    monitor.on_progress(progress_metrics(progress_report(3, {"t": {"0": 1}}, {"t": {"0": 1}}, name="hot_path")))
    monitor.endpoint = MetricsEndpoint(monitor.view, "127.0.0.1", 0)
    try:
        text = "\n".join(job_view(scrape(f"http://127.0.0.1:{monitor.port}/metrics")))
    finally:
        monitor.endpoint.stop()
    assert "query hot_path" in text and "latency" not in text and "no decision yet" not in text


def test_dashboard_and_scrape_config_name_only_what_the_endpoint_serves() -> None:
    import json
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    monitor = started_monitor()
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{monitor.port}/metrics", timeout=10).read().decode()
    finally:
        monitor.endpoint.stop()
    served = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    dashboard = json.loads((root / "ops" / "grafana" / "pixguard-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {name for expr in exprs for name in re.findall(r"pixguard_\w+", expr)}
    assert named and named <= served, sorted(named - served)
    scrape_config = yaml.safe_load((root / "ops" / "prometheus" / "prometheus.yml").read_text())
    monitoring = load_streaming_config(root).monitoring
    scraped = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape_config["scrape_configs"]}
    assert all(job["metrics_path"] == "/metrics" for job in scrape_config["scrape_configs"])
    assert scraped == {  # both jobs' endpoints, on the configured ports
        "pixguard-streaming": [f"127.0.0.1:{monitoring.metrics_port}"],
        "pixguard-archive": [f"127.0.0.1:{monitoring.archive_metrics_port}"],
    }


def test_the_prometheus_rules_file_is_the_configured_alerts_on_the_series_the_job_serves() -> None:
    import re
    from pathlib import Path

    import yaml

    from pixguard.config import load_streaming_config
    from pixguard.monitoring.prometheus_rules import prometheus_rules
    from pixguard.monitoring.signals import SIGNALS

    root = Path(__file__).resolve().parents[2]
    config = load_streaming_config(root)
    committed = (root / "ops" / "prometheus" / "rules.yml").read_text()
    assert committed == prometheus_rules(config.monitoring), (
        "ops/prometheus/rules.yml is stale: run `pixguard prometheus-rules --out ops/prometheus/rules.yml`"
    )
    rules = yaml.safe_load(committed)["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [a.name for a in config.monitoring.alerts]
    for rule, configured in zip(rules, config.monitoring.alerts, strict=True):
        assert set(re.findall(r"pixguard_job_\w+", rule["expr"])) == {f"pixguard_job_{configured.metric}"}
        assert configured.metric in SIGNALS
        assert rule["for"] == f"{configured.for_s:g}s" and rule["labels"]["severity"] == configured.severity
    band = next(r for r in rules if r["alert"] == "block_rate_out_of_band")
    assert band["expr"] == "pixguard_job_block_rate < 0 or pixguard_job_block_rate > 0.05"
