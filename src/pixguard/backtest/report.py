"""`pixguard report --backtest NAME`: what the rules and the model would have caught, in the numbers a
fraud manager reads in a minute, as one HTML page (also logged to MLflow with a model version).

`backtest_report` is a pure function of the backtest's decisions (a pandas frame); Spark only reads
the few columns it needs (`report_input`). Three rankings are compared, each the order in which a
fraud team would work the alerts:
- model: the model's score;
- rules only: how many rules fired (the training's rules-only baseline);
- both: the decision as deployed (BLOCK, then REVIEW, then APPROVE), ordered within each by the
  model's score (by the rules fired when there is no model).
At an alert budget (0.1%, 0.5%, 1% of payments) the top of each ranking is alerted: precision,
recall, and the R$ of fraud caught. The card-precision figure of the fraud-detection literature:
each day, the k highest-ranked payments are alerted; the frauds among them, per day."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pixguard.domain.rules import RULE_HITS
from pixguard.model.metrics import budget_label, top_k
from pixguard.monitoring.report import new_figure, png_base64

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.config import Bundle

BUDGETS = (0.001, 0.005, 0.01)
MODEL, RULES, BOTH = "model", "rules only", "both (as deployed)"
SEVERITY = {"BLOCK": 2.0, "REVIEW": 1.0, "APPROVE": 0.0}
AMOUNT_BANDS = (0, 100, 500, 1_000, 5_000, 20_000, math.inf)
REPORT_COLUMNS = ["end_to_end_id", "event_time", "amount_brl", "local_hour", "score", "decision", RULE_HITS,
                  "model_version", "rules_version", "is_fraud", "fraud_type"]  # fmt: skip


@dataclass(frozen=True)
class BacktestReport:
    name: str
    payments: int
    frauds: int
    fraud_brl: float
    period: tuple[datetime, datetime]
    versions: pd.DataFrame  # model_version, rules_version, payments
    ranking: pd.DataFrame  # ranking, average_precision, roc_auc
    at_budgets: pd.DataFrame  # ranking, budget, alerts, frauds_caught, precision, recall, fraud_brl_caught, brl_recall
    daily_top_k: pd.DataFrame  # ranking, k, days, frauds_caught, mean_daily_precision
    decisions: pd.DataFrame  # decision, payments, frauds, precision, fraud_brl
    rules: pd.DataFrame  # rule, fired, frauds, precision, share_of_frauds
    by_type: pd.DataFrame  # fraud_type, frauds, alerted, recall, fraud_brl, fraud_brl_alerted
    by_hour: pd.DataFrame  # local_hour, payments, frauds, alerts, precision, recall
    by_amount: pd.DataFrame  # amount_band, payments, frauds, alerts, precision, recall
    curves: dict[str, np.ndarray] = field(repr=False)  # ranking -> scores, with "labels" and "score"
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def metrics(self) -> dict[str, float]:
        """Flat figures, as MLflow metrics (backtest_ prefixed by the caller)."""
        out: dict[str, float] = {"payments": float(self.payments), "frauds": float(self.frauds)}
        for row in self.ranking.itertuples():
            key = _metric_key(row.ranking)
            out[f"{key}_average_precision"] = row.average_precision
            out[f"{key}_roc_auc"] = row.roc_auc
        for row in self.at_budgets.itertuples():
            key, label = _metric_key(row.ranking), budget_label(row.budget)
            out[f"{key}_precision_at_{label}"] = row.precision
            out[f"{key}_recall_at_{label}"] = row.recall
            out[f"{key}_fraud_brl_caught_at_{label}"] = row.fraud_brl_caught
        return out


def _metric_key(ranking: str) -> str:
    return {MODEL: "model", RULES: "rules_only", BOTH: "both"}[ranking]


def ranking_scores(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each ranking's score per payment (higher: alerted first). No model score at all: no model ranking."""
    rules_fired = frame[RULE_HITS].map(lambda hits: 0 if hits is None else len(hits)).to_numpy(dtype=float)
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    severity = frame["decision"].map(SEVERITY).fillna(0.0).to_numpy(dtype=float)
    has_model = bool(np.isfinite(score).any())
    within = np.nan_to_num(score, nan=0.0) if has_model else rules_fired / (1.0 + rules_fired)
    rankings = {RULES: rules_fired, BOTH: severity + np.clip(within, 0.0, 0.999_999)}
    return ({MODEL: np.nan_to_num(score, nan=-1.0)} | rankings) if has_model else rankings


def _at_budget(labels: np.ndarray, scores: np.ndarray, amounts: np.ndarray, budget: float) -> dict[str, float]:
    alerts = top_k(scores, budget)
    caught = labels[alerts] == 1
    fraud_brl = float(amounts[labels == 1].sum())
    caught_brl = float(amounts[alerts][caught].sum())
    frauds = int(labels.sum())
    return {
        "budget": budget,
        "alerts": len(alerts),
        "frauds_caught": int(caught.sum()),
        "precision": float(caught.mean()),
        "recall": float(caught.sum() / frauds) if frauds else 0.0,
        "fraud_brl_caught": caught_brl,
        "brl_recall": caught_brl / fraud_brl if fraud_brl else 0.0,
    }


def _daily_top_k(days: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
    caught, precisions = 0, []
    for day in np.unique(days):
        on_day = np.flatnonzero(days == day)
        order = on_day[np.lexsort((on_day, -scores[on_day]))][:k]
        hits = int(labels[order].sum())
        caught += hits
        precisions.append(hits / len(order))
    return {
        "k": k,
        "days": len(precisions),
        "frauds_caught": caught,
        "mean_daily_precision": float(np.mean(precisions)),
    }


def _alert_table(frame: pd.DataFrame, by: str, alerted: np.ndarray) -> pd.DataFrame:
    grouped = frame.assign(_alert=alerted, _fraud_alert=alerted & frame["is_fraud"].to_numpy()).groupby(
        by, observed=True
    )
    table = grouped.agg(
        payments=("is_fraud", "size"),
        frauds=("is_fraud", "sum"),
        alerts=("_alert", "sum"),
        caught=("_fraud_alert", "sum"),
    )
    table["precision"] = (table["caught"] / table["alerts"]).where(table["alerts"] > 0)
    table["recall"] = (table["caught"] / table["frauds"]).where(table["frauds"] > 0)
    return table.drop(columns="caught").reset_index()


def backtest_report(
    frame: pd.DataFrame, name: str, budgets: tuple[float, ...] = BUDGETS, k: int = 100
) -> BacktestReport:
    """The report of a backtest's decisions (REPORT_COLUMNS; `is_fraud` the truth)."""
    labels = frame["is_fraud"].fillna(False).astype(bool).to_numpy().astype(int)
    if len(labels) == 0 or labels.min() == labels.max():
        raise ValueError(f"backtest {name}: the report needs both frauds and legitimate payments (is_fraud)")
    from sklearn.metrics import average_precision_score, roc_auc_score

    amounts = frame["amount_brl"].astype(float).to_numpy()
    event_time = pd.to_datetime(frame["event_time"], utc=True)
    days = (event_time - pd.Timedelta(hours=3)).dt.date.to_numpy()  # Brasília days (UTC-3)
    rankings = ranking_scores(frame)
    ranking = pd.DataFrame(
        [
            {"ranking": r, "average_precision": average_precision_score(labels, s), "roc_auc": roc_auc_score(labels, s)}
            for r, s in rankings.items()
        ]
    )
    at_budgets = pd.DataFrame(
        [{"ranking": r} | _at_budget(labels, s, amounts, b) for r, s in rankings.items() for b in budgets]
    )
    daily = pd.DataFrame([{"ranking": r} | _daily_top_k(days, labels, s, k) for r, s in rankings.items()])

    truth = frame.assign(is_fraud=labels.astype(bool), _brl=amounts, _fraud_brl=np.where(labels == 1, amounts, 0.0))
    decisions = truth.groupby("decision").agg(
        payments=("is_fraud", "size"), frauds=("is_fraud", "sum"), fraud_brl=("_fraud_brl", "sum")
    )
    decisions["precision"] = decisions["frauds"] / decisions["payments"]
    decisions = decisions.reindex([d for d in SEVERITY if d in decisions.index]).reset_index()

    fired = truth[["is_fraud", RULE_HITS]].explode(RULE_HITS).dropna(subset=[RULE_HITS])
    rules = fired.groupby(RULE_HITS).agg(fired=("is_fraud", "size"), frauds=("is_fraud", "sum"))
    rules["precision"] = rules["frauds"] / rules["fired"]
    rules["share_of_frauds"] = rules["frauds"] / labels.sum()
    rules = rules.sort_values("precision").reset_index().rename(columns={RULE_HITS: "rule"})

    alerted = (frame["decision"] != "APPROVE").to_numpy()
    frauds_only = truth[truth["is_fraud"]].assign(_alerted=alerted[labels == 1])
    by_type = pd.DataFrame()
    if "fraud_type" in frame.columns and frauds_only["fraud_type"].notna().any():
        kinds = frauds_only.assign(fraud_type=frauds_only["fraud_type"].fillna("(none given)"))
        by_type = kinds.groupby("fraud_type").agg(
            frauds=("is_fraud", "size"),
            alerted=("_alerted", "sum"),
            fraud_brl=("_brl", "sum"),
            fraud_brl_alerted=("_brl", lambda s: float(s[kinds.loc[s.index, "_alerted"]].sum())),
        )
        by_type["recall"] = by_type["alerted"] / by_type["frauds"]
        by_type = by_type.sort_values("recall").reset_index()
    bands = pd.cut(amounts, AMOUNT_BANDS, right=False, labels=_band_labels())
    by_amount = _alert_table(truth.assign(amount_band=bands), "amount_band", alerted)
    by_hour = _alert_table(truth, "local_hour", alerted)
    versions = (
        frame.assign(model_version=frame["model_version"].fillna("none (rules alone)"))
        .groupby(["model_version", "rules_version"])
        .size()
        .rename("payments")
        .reset_index()
    )
    curves = {"labels": labels, "score": pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)}
    return BacktestReport(
        name=name,
        payments=len(frame),
        frauds=int(labels.sum()),
        fraud_brl=float(amounts[labels == 1].sum()),
        period=(event_time.min().to_pydatetime(), event_time.max().to_pydatetime()),
        versions=versions,
        ranking=ranking,
        at_budgets=at_budgets,
        daily_top_k=daily,
        decisions=decisions,
        rules=rules,
        by_type=by_type,
        by_hour=by_hour,
        by_amount=by_amount,
        curves=curves | rankings,
    )


def _band_labels() -> list[str]:
    edges = AMOUNT_BANDS
    return [
        f"R$ {lo:,.0f}+" if math.isinf(hi) else f"R$ {lo:,.0f}-{hi:,.0f}"
        for lo, hi in zip(edges, edges[1:], strict=False)
    ]


# -- rendering (pure) --------------------------------------------------------------------------------


def _table(frame: pd.DataFrame, percent: tuple[str, ...] = (), money: tuple[str, ...] = ()) -> str:
    if frame.empty:
        return "<p>(none)</p>"
    shown = frame.copy()
    for column in shown.columns:
        if column in percent or column in ("budget",):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{100 * v:.1f}%")
        elif column in money:
            shown[column] = shown[column].map(lambda v: f"R$ {v:,.0f}")
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return shown.to_html(index=False, escape=True, border=0)


def _pr_curves(report: BacktestReport) -> str:
    from sklearn.metrics import precision_recall_curve

    figure, axes = new_figure("Precision-recall", size=(6, 4.5))
    for name in (MODEL, RULES, BOTH):
        if name in report.curves:
            precision, recall, _ = precision_recall_curve(report.curves["labels"], report.curves[name])
            axes.plot(recall, precision, label=name)
    axes.set(xlabel="recall", ylabel="precision")
    axes.legend(fontsize="small")
    return png_base64(figure)


def _score_distribution(report: BacktestReport) -> str:
    figure, axes = new_figure("Model score: frauds and legitimate payments (share of each)", size=(6, 4.5))
    score, labels = report.curves["score"], report.curves["labels"]
    if np.isfinite(score).any():
        bins = np.linspace(0, 1, 41)
        for value, name in ((0, "legitimate"), (1, "fraud")):
            chosen = score[(labels == value) & np.isfinite(score)]
            axes.hist(chosen, bins=bins, weights=np.full(len(chosen), 1 / max(1, len(chosen))), alpha=0.6, label=name)
        axes.set_yscale("log")
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no model scored this backtest", ha="center", va="center", transform=axes.transAxes)
    return png_base64(figure)


def render_backtest_report(report: BacktestReport) -> str:
    budget_1pct = report.at_budgets[report.at_budgets["budget"] == max(report.at_budgets["budget"])]
    headline = "".join(
        f"<li><b>{html.escape(r.ranking)}</b>: {100 * r.recall:.1f}% of frauds and R$ {r.fraud_brl_caught:,.0f} "
        f"({100 * r.brl_recall:.1f}% of the R$ lost) caught in {r.alerts:,} alerts "
        f"({100 * r.budget:g}% of payments), {100 * r.precision:.1f}% of alerts fraud</li>"
        for r in budget_1pct.itertuples()
    )
    start, end = report.period
    sections = [
        ("What would have been caught", f"<ul>{headline}</ul>"),
        ("Ranking quality", _table(report.ranking)),
        (
            "At alert budgets",
            _table(report.at_budgets, percent=("precision", "recall", "brl_recall"), money=("fraud_brl_caught",)),
        ),
        ("Fraud caught in the top k alerts per day", _table(report.daily_top_k, percent=("mean_daily_precision",))),
        ("Decisions as deployed", _table(report.decisions, percent=("precision",), money=("fraud_brl",))),
        ("Each rule's alerts", _table(report.rules, percent=("precision", "share_of_frauds"))),
        (
            "By fraud type (alerted: REVIEW or BLOCK)",
            _table(report.by_type, percent=("recall",), money=("fraud_brl", "fraud_brl_alerted")),
        ),
        ("By hour (Brasília)", _table(report.by_hour, percent=("precision", "recall"))),
        ("By amount", _table(report.by_amount, percent=("precision", "recall"))),
        ("Versions", _table(report.versions)),
    ]
    body = "".join(f"<section><h2>{html.escape(title)}</h2>{content}</section>" for title, content in sections)
    plots = "".join(
        f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{draw(report)}"/>'
        for alt, draw in (("precision-recall", _pr_curves), ("score distribution", _score_distribution))
    )
    title = f"Backtest {report.name}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{report.payments:,} payments from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, "
        f"{report.frauds:,} frauds ({100 * report.frauds / report.payments:.2f}%), R$ {report.fraud_brl:,.0f} lost "
        f"to fraud; generated {report.generated_at:%Y-%m-%d %H:%M} UTC</p>"
        f"{body}<section><h2>Plots</h2>{plots}</section></body></html>"
    )


# -- I/O: Spark reads the backtest, MLflow keeps the report with a model version ---------------------


def report_input(spark: SparkSession, bundle: Bundle, name: str) -> pd.DataFrame:
    from pyspark.sql import functions as F

    from pixguard.backtest.run import backtest_frame

    decisions = backtest_frame(spark, bundle, name)
    columns = [c if c in decisions.columns else F.lit(None).alias(c) for c in REPORT_COLUMNS]
    return decisions.select(*columns).withColumn("amount_brl", F.col("amount_brl").cast("double")).toPandas()


def log_report(bundle: Bundle, report: BacktestReport, page: str, model_version: str) -> str:
    """The page and the figures, in the run that registered `model_version`. Returns the run id."""
    import tempfile
    from pathlib import Path

    from mlflow import MlflowClient

    client = MlflowClient(bundle.target.mlflow.tracking_uri)
    run_id = client.get_model_version(bundle.target.mlflow.registered_model, model_version).run_id
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"backtest_{report.name}.html"
        path.write_text(page, encoding="utf-8")
        client.log_artifact(run_id, str(path), artifact_path="backtests")
    for key, value in report.metrics().items():
        client.log_metric(run_id, f"backtest_{report.name}_{key}", float(value))
    return run_id
