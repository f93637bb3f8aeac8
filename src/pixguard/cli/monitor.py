"""`pixguard report`, and the jobs' part of `pixguard status` (read from the Prometheus endpoints of the
streaming and archive jobs, so the terminal shows exactly what a scraper sees)."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from pixguard.cli.common import AddCommand, bundle_from
from pixguard.config import StreamingConfig, load_streaming_config

# Each job's endpoint URL instead of the configured one (another host, a port-forward).
METRICS_URL_ENV = {"streaming": "PIXGUARD_METRICS_URL", "archive": "PIXGUARD_ARCHIVE_METRICS_URL"}


def metrics_urls(config: StreamingConfig) -> dict[str, str]:
    """Job -> the URL of its metrics: the streaming job's (hot path, serving) and the archive job's
    (decided batches: latency, rates, scores)."""
    import os

    host = config.monitoring.metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    ports = {"streaming": config.monitoring.metrics_port, "archive": config.monitoring.archive_metrics_port}
    return {job: os.environ.get(METRICS_URL_ENV[job]) or f"http://{host}:{port}/metrics" for job, port in ports.items()}


def scrape(url: str, timeout_s: float = 3.0) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own endpoint
        text = response.read().decode("utf-8")
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _pick(samples: Iterable[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def _one(samples: list[Sample], name: str, **labels: str) -> float | None:
    found = _pick(samples, name, **labels)
    return found[0].value if found else None


def _fmt(value: float | None, unit: str = "", percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if percent else f"{value:,.0f}{unit}"


def job_view(samples: list[Sample]) -> list[str]:
    """The lines of the job view, from one scrape (pure, so it is tested on a real exposition)."""
    lines = []
    queries = sorted({s.labels["query"] for s in _pick(samples, "pixguard_query_seconds_since_progress")})
    for query in queries:

        def q(name: str, query: str = query) -> float | None:
            return _one(samples, f"pixguard_query_{name}", query=query)

        lines.append(
            f"  query {query:12} batch {_fmt(q('last_batch_id'))}, in {_fmt(q('input_rows_per_second'), ' rows/s')}, "
            f"processed {_fmt(q('processed_rows_per_second'), ' rows/s')}, lag {_fmt(q('kafka_lag_records'))}, "
            f"last progress {q('seconds_since_progress') or 0:.0f} s ago"
        )

    def job(name: str) -> float | None:
        return _one(samples, f"pixguard_job_{name}")

    consumed = _one(samples, "pixguard_consumed_records_total")
    # The decided batches' figures come from the archive job's endpoint; the streaming job's has none.
    if consumed or job("decision_latency_p99_ms") is not None:
        latency = [_fmt(job(f"decision_latency_{p}_ms"), " ms") for p in ("p50", "p95", "p99")]
        lines.append(f"  latency p50 {latency[0]}, p95 {latency[1]}, p99 {latency[2]}")
        lines.append(
            f"  rates   quarantine {_fmt(job('quarantine_rate'), percent=True)}, "
            f"review {_fmt(job('review_rate'), percent=True)}, block {_fmt(job('block_rate'), percent=True)}"
        )
        decisions = ", ".join(
            f"{s.labels['decision']} {s.value:,.0f}" for s in _pick(samples, "pixguard_decisions_total")
        )
        quarantined = sum(s.value for s in _pick(samples, "pixguard_quarantined_total"))
        lines.append(
            f"  totals  consumed {_fmt(consumed)}: {decisions or 'no decision yet'}, quarantined {quarantined:,.0f}"
        )
    info = _pick(samples, "pixguard_model_info")
    if info:
        lines.append(f"  model   {info[0].labels['model_version']}, rules {info[0].labels['rules_version']}")
    active = [f"[{s.labels['severity']}] {s.labels['rule']}" for s in _pick(samples, "pixguard_alert_active")]
    lines.append(f"  alerts  {', '.join(active) if active else 'none firing'}")
    return lines


def print_job_view(config: StreamingConfig) -> bool:
    """Print each job's view; False when an endpoint does not answer."""
    answered = True
    for job, url in metrics_urls(config).items():
        try:
            samples = scrape(url)
        except (urllib.error.URLError, OSError) as exc:
            print(f"{job:8} not running        no metrics at {url} ({getattr(exc, 'reason', exc)})")
            answered = False
            continue
        print(f"{job:8} running            {url}")
        for line in job_view(samples):
            print(line)
    if not answered:
        print("         (`pixguard report` draws the recorded history from stream_metrics)")
    return answered


def cmd_report(args: argparse.Namespace) -> int:
    from pixguard.infra.spark import build_spark_session

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    spark = build_spark_session(bundle, "streaming", app_name=f"{bundle.name}-report")
    try:
        page = _backtest_page(spark, bundle, args) if args.backtest else _streaming_page(spark, bundle, config)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        spark.stop()
    out = Path(args.out or (f"backtest-{args.backtest}.html" if args.backtest else "pixguard-report.html"))
    out.write_text(page, encoding="utf-8")
    print(f"report written to {out.resolve()}", file=sys.stderr)
    return 0


def _streaming_page(spark, bundle, config: StreamingConfig) -> str:  # noqa: ANN001
    from pixguard.monitoring.report import render_report, report_data

    return render_report(report_data(spark, bundle, config), title=f"{bundle.name} streaming report")


def _backtest_page(spark, bundle, args: argparse.Namespace) -> str:  # noqa: ANN001
    """The backtest's report; logged to MLflow with the model version that decided it (if one did)."""
    from pixguard.backtest.report import backtest_report, log_report, render_backtest_report, report_input

    frame = report_input(spark, bundle, args.backtest)
    report = backtest_report(frame, args.backtest, k=args.top_k)
    page = render_backtest_report(report)
    versions = [v for v in frame["model_version"].dropna().unique()]
    if len(versions) == 1 and not args.no_mlflow:
        run_id = log_report(bundle, report, page, str(versions[0]))
        print(f"logged to MLflow: model version {versions[0]} (run {run_id}), artifacts backtests/", file=sys.stderr)
    return page


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Exit 0 when every consumed record has exactly one outcome in the archive, 1 when not."""
    from pixguard.infra.spark import build_spark_session
    from pixguard.stream.reconcile import reconcile

    bundle = bundle_from(args)
    config = load_streaming_config(bundle.project_root)
    spark = build_spark_session(bundle, "streaming", app_name=f"{bundle.name}-reconcile")
    try:
        result = reconcile(spark, bundle, config)
    finally:
        spark.stop()
    print(result.text())
    return 0 if result.ok else 1


def cmd_prometheus_rules(args: argparse.Namespace) -> int:
    from pixguard.monitoring.prometheus_rules import prometheus_rules

    bundle = bundle_from(args)
    text = prometheus_rules(load_streaming_config(bundle.project_root).monitoring)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def register(sub: argparse._SubParsersAction, add: AddCommand) -> None:
    add(
        "reconcile",
        cmd_reconcile,
        "check from the archive that every consumed payment record was decided or quarantined, once (exit 1 if not)",
    )
    p_report = add(
        "report", cmd_report, "HTML report: the stream's (stream_metrics, decisions) or a backtest's detection quality"
    )
    p_report.add_argument(
        "--out", default=None, help="output file (default: pixguard-report.html, backtest-NAME.html with --backtest)"
    )
    p_report.add_argument("--backtest", default=None, metavar="NAME", help="the report of backtest NAME")
    p_report.add_argument("--top-k", type=int, default=100, help="with --backtest: alerts per day (default 100)")
    p_report.add_argument("--no-mlflow", action="store_true", help="with --backtest: do not log it to MLflow")
    p_rules = add(
        "prometheus-rules",
        cmd_prometheus_rules,
        "print conf monitoring.alerts as Prometheus alerting rules (ops/prometheus/rules.yml)",
    )
    p_rules.add_argument("--out", default=None, help="write them to this file instead of printing them")
