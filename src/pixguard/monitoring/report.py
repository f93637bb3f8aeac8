"""`pixguard report`: one self-contained HTML page (plots embedded as base64 PNG) from Delta
`stream_metrics` and `decisions`.

Spark reduces the tables to a few hundred rows (`report_data`); `render_report` is a pure function
of those small pandas frames, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from pixguard.infra.delta_tables import read_if_exists
from pixguard.monitoring.masking import mask_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.config import Bundle, StreamingConfig

SCORE_BIN_WIDTH = 0.05


@dataclass(frozen=True)
class ReportData:
    progress: pd.DataFrame  # query, progress_at, input_rows_per_second, processed_rows_per_second, kafka_lag_records
    latency: pd.DataFrame  # progress_at, latency_p50_ms, latency_p95_ms, latency_p99_ms (decision query)
    decisions_by_minute: pd.DataFrame  # minute, decision, n
    score_histogram: pd.DataFrame  # bin_low, n
    quarantine_reasons: pd.DataFrame  # reason, n
    versions: pd.DataFrame = field(default_factory=pd.DataFrame)  # model_version, rules_version, n
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# -- reading (Spark) ---------------------------------------------------------------------------------


def _latest_rows(metrics):  # noqa: ANN001, ANN202
    """One row per batch of a query: a batch replayed after a crash is appended again (the table is
    append-only, see store.py); its latest row counts, once."""
    if metrics is None:
        return None
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest_first = Window.partitionBy("query_id", "query", "batch_id").orderBy(F.col("recorded_at").desc())
    return metrics.withColumn("_rank", F.row_number().over(latest_first)).where("_rank = 1").drop("_rank")


def report_data(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> ReportData:
    from pyspark.sql import functions as F

    metrics = _latest_rows(read_if_exists(spark, bundle.target.table_path(config.tables.stream_metrics)))
    decisions = read_if_exists(spark, bundle.target.table_path(config.tables.decisions))
    empty = pd.DataFrame()
    progress = latency = reasons = empty
    if metrics is not None:
        timed = metrics.where(F.col("progress_at").isNotNull())
        progress = timed.select(
            "query", "progress_at", "input_rows_per_second", "processed_rows_per_second", "kafka_lag_records"
        ).toPandas()
        latency = (
            timed.where(F.col("latency_p99_ms").isNotNull())
            .select("progress_at", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
            .toPandas()
        )
        reasons = (
            metrics.select(F.explode("quarantine_reasons").alias("reason", "n"))
            .unionByName(
                metrics.select(F.lit("duplicate_end_to_end_id").alias("reason"), F.col("duplicates").alias("n"))
            )
            .groupBy("reason")
            .agg(F.sum("n").alias("n"))
            .where(F.col("n") > 0)
            .toPandas()
        )
    by_minute = scores = versions = empty
    if decisions is not None:
        by_minute = (
            decisions.groupBy(F.date_trunc("minute", "decided_at").alias("minute"), "decision")
            .agg(F.count("*").alias("n"))
            .toPandas()
        )
        scores = (
            decisions.where(F.col("score").isNotNull())
            .groupBy((F.floor(F.col("score") / SCORE_BIN_WIDTH) * SCORE_BIN_WIDTH).alias("bin_low"))
            .agg(F.count("*").alias("n"))
            .toPandas()
        )
        versions = (
            decisions.groupBy("model_version", "rules_version")
            .agg(F.count("*").alias("n"), F.max("decided_at").alias("last_decided_at"))
            .toPandas()
        )
    return ReportData(progress, latency, by_minute, scores, reasons, versions)


# -- rendering (pure) --------------------------------------------------------------------------------


def png_base64(figure) -> str:  # noqa: ANN001
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def new_figure(title: str, size: tuple[float, float] = (9, 3.2)):  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")  # no display: the report is rendered on servers and in CI
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=size)
    axes.set_title(title)
    return figure, axes


def _no_data(axes) -> None:  # noqa: ANN001
    axes.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes.transAxes, color="gray")


def _throughput(data: ReportData) -> str:
    figure, axes = new_figure("Throughput (rows/s) by query")
    if data.progress.empty:
        _no_data(axes)
    else:
        for query, rows in data.progress.sort_values("progress_at").groupby("query"):
            axes.plot(rows["progress_at"], rows["input_rows_per_second"], label=f"{query} input")
            axes.plot(
                rows["progress_at"], rows["processed_rows_per_second"], linestyle="--", label=f"{query} processed"
            )
        axes.legend(fontsize="small")
    return png_base64(figure)


def _latency(data: ReportData) -> str:
    figure, axes = new_figure("Decision latency per batch (event time to the decision on Kafka, ms)")
    if data.latency.empty:
        _no_data(axes)
    else:
        rows = data.latency.sort_values("progress_at")
        for column in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            axes.plot(rows["progress_at"], rows[column], marker=".", label=column.split("_")[1])
        axes.legend(fontsize="small")
    return png_base64(figure)


def _decisions(data: ReportData) -> str:
    figure, axes = new_figure("Decisions per minute by type")
    if data.decisions_by_minute.empty:
        _no_data(axes)
    else:
        table = data.decisions_by_minute.pivot_table(index="minute", columns="decision", values="n", fill_value=0)
        bottom = None
        for decision in [d for d in ("APPROVE", "REVIEW", "BLOCK") if d in table]:
            axes.bar(table.index, table[decision], bottom=bottom, width=0.0006, label=decision)
            bottom = table[decision] if bottom is None else bottom + table[decision]
        axes.legend(fontsize="small")
    return png_base64(figure)


def _scores(data: ReportData) -> str:
    figure, axes = new_figure("Score distribution (decided transactions with a model score)")
    if data.score_histogram.empty:
        _no_data(axes)
    else:
        rows = data.score_histogram.sort_values("bin_low")
        axes.bar(rows["bin_low"], rows["n"], width=SCORE_BIN_WIDTH, align="edge")
        axes.set_xlim(0, 1)
    return png_base64(figure)


def _quarantine(data: ReportData) -> str:
    figure, axes = new_figure("Quarantined records by reason")
    if data.quarantine_reasons.empty:
        _no_data(axes)
    else:
        rows = data.quarantine_reasons.sort_values("n")
        axes.barh([mask_text(str(r)) for r in rows["reason"]], rows["n"])
    return png_base64(figure)


PLOTS = {
    "Throughput": _throughput,
    "Latency": _latency,
    "Decisions by type": _decisions,
    "Score distribution": _scores,
    "Quarantine reasons": _quarantine,
}


def _summary(data: ReportData) -> str:
    totals = data.decisions_by_minute.groupby("decision")["n"].sum() if not data.decisions_by_minute.empty else {}
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{int(v)}</td></tr>" for k, v in dict(totals).items())
    quarantined = int(data.quarantine_reasons["n"].sum()) if not data.quarantine_reasons.empty else 0
    cells += f"<tr><th>quarantined</th><td>{quarantined}</td></tr>"
    if not data.versions.empty:
        for row in data.versions.itertuples():
            model = html.escape(str(row.model_version) if pd.notna(row.model_version) else "none (rules only)")
            rules = html.escape(str(row.rules_version))
            cells += f"<tr><th>model {model} / rules {rules}</th><td>{int(row.n)}</td></tr>"
    return f"<table>{cells}</table>"


def render_report(data: ReportData, title: str = "pixguard streaming report") -> str:
    sections = "".join(
        f"<section><h2>{html.escape(name)}</h2>"
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{draw(data)}"/></section>'
        for name, draw in PLOTS.items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>generated {data.generated_at:%Y-%m-%d %H:%M:%S %Z}</p>"
        f"{_summary(data)}{sections}</body></html>"
    )
