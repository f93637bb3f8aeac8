"""The HTML report renders every plot as an embedded PNG, from the Delta tables the job writes."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from pixguard.monitoring.batch_metrics import SCORE_BUCKETS, BatchMetrics, LatencyMs
from pixguard.monitoring.progress import progress_metrics
from pixguard.monitoring.report import PLOTS, ReportData, render_report, report_data
from pixguard.monitoring.store import append_metrics, metrics_row
from tests.unit.test_monitoring_signals import progress_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def images(page: str) -> dict[str, bytes]:
    found = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    return {alt: base64.b64decode(data) for alt, data in found}


def test_renders_every_plot_even_with_no_data_yet() -> None:
    empty = pd.DataFrame()
    page = render_report(ReportData(empty, empty, empty, empty, empty))
    pngs = images(page)
    assert set(pngs) == set(PLOTS) and all(p.startswith(PNG_SIGNATURE) for p in pngs.values())


def write_tables(spark, bundle, tmp_path):  # noqa: ANN001, ANN201
    """Four decided batches (one replayed) in stream_metrics and 40 decisions, under tmp_path/data."""
    from pyspark.sql import functions as F

    target = bundle.target.model_copy(update={"storage_root": str(tmp_path / "data")})
    bundle = bundle.model_copy(update={"target": target})
    rows = []
    for i in range(4):
        report = progress_report(i, {"t": {"0": 10 * i}}, {"t": {"0": 10 * i + 3}}, rows=10)
        report["timestamp"] = (T0 + timedelta(seconds=10 * i)).isoformat().replace("+00:00", "Z")
        batch = BatchMetrics(
            batch_id=i,
            consumed=10,
            scored=9,
            quarantined=1,
            duplicates=0,
            decisions={"APPROVE": 8, "REVIEW": 1, "BLOCK": 0},
            latency_ms=LatencyMs(100.0 * i, 200.0 * i, 300.0 * i, 400.0 * i),
            score_le_counts=tuple([9] * len(SCORE_BUCKETS)),
            score_sum=0.9,
            unscored=0,
            model_version="1",
            rules_version="r1",
            quarantine_reasons={"malformed_json": 1},
        )
        rows.append(metrics_row("test-job", progress_metrics(report), batch, T0))
    # the last batch replayed after a crash: appended again, later; it must count once
    rows.append({**rows[-1], "run_id": "after-restart", "recorded_at": T0 + timedelta(minutes=5)})
    append_metrics(spark, target.table_path("stream_metrics"), rows)
    decisions = spark.createDataFrame(
        [(f"E{i}", T0 + timedelta(seconds=i), "BLOCK" if i % 10 == 0 else "APPROVE", i / 40) for i in range(40)],
        "end_to_end_id string, decided_at timestamp, decision string, score double",
    ).withColumns({"model_version": F.lit("1"), "rules_version": F.lit("r1")})
    decisions.write.format("delta").save(target.table_path("decisions"))
    return bundle


def test_report_from_stream_metrics_and_decisions(spark, bundle, tmp_path) -> None:  # noqa: ANN001
    from pixguard.config import load_streaming_config

    bundle = write_tables(spark, bundle, tmp_path)

    data = report_data(spark, bundle, load_streaming_config(bundle.project_root))
    assert len(data.progress) == 4 and data.latency["latency_p99_ms"].max() == 900
    assert dict(zip(data.quarantine_reasons["reason"], data.quarantine_reasons["n"], strict=True)) == {
        "malformed_json": 4
    }
    assert data.decisions_by_minute.groupby("decision")["n"].sum().to_dict() == {"APPROVE": 36, "BLOCK": 4}
    assert data.score_histogram["n"].sum() == 40
    page = render_report(data)
    pngs = images(page)
    assert set(pngs) == set(PLOTS) and all(p.startswith(PNG_SIGNATURE) and len(p) > 2000 for p in pngs.values())
    assert "<th>BLOCK</th><td>4</td>" in page and "<th>quarantined</th><td>4</td>" in page


def test_pixguard_report_command_writes_the_page(spark, bundle, tmp_path) -> None:  # noqa: ANN001
    """The console script, in its own process, over the tables of a state folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    write_tables(spark, bundle, tmp_path)
    out = tmp_path / "report.html"
    script = Path(sys.executable).parent / "pixguard"
    env = {**os.environ, "PIXGUARD_HOME": str(tmp_path), "PIXGUARD_PROJECT_ROOT": str(bundle.project_root)}
    result = subprocess.run(
        [str(script), "report", "--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"report written to {out}" in result.stderr
    page = out.read_text(encoding="utf-8")
    pngs = images(page)
    assert set(pngs) == set(PLOTS) and all(len(p) > 2000 for p in pngs.values())
    assert "<th>BLOCK</th><td>4</td>" in page and "<th>quarantined</th><td>4</td>" in page
