"""The backtest report's figures against values worked out by hand on ten labelled payments."""

from __future__ import annotations

import pandas as pd
import pytest

from pixguard.backtest.report import BOTH, MODEL, RULES, backtest_report, render_backtest_report

# id, UTC day, amount, score, decision, rules fired, fraud, fraud type, Brasília hour
PAYMENTS = [
    (1, "2026-11-02", 100.0, 0.9, "BLOCK", ["A", "B"], True, "account_takeover", 2),
    (2, "2026-11-02", 50.0, 0.8, "REVIEW", ["A"], False, None, 3),
    (3, "2026-11-02", 200.0, 0.7, "APPROVE", [], True, "mule_fan_in", 14),
    (4, "2026-11-02", 10.0, 0.1, "APPROVE", [], False, None, 14),
    (5, "2026-11-02", 20.0, 0.2, "APPROVE", ["B"], False, None, 14),
    (6, "2026-11-03", 1000.0, 0.6, "REVIEW", ["A"], True, "account_takeover", 22),
    (7, "2026-11-03", 30.0, 0.05, "APPROVE", [], False, None, 9),
    (8, "2026-11-03", 40.0, 0.3, "APPROVE", [], False, None, 9),
    (9, "2026-11-03", 60.0, 0.4, "APPROVE", [], False, None, 9),
    (10, "2026-11-03", 70.0, 0.5, "APPROVE", [], False, None, 9),
]


def frame(with_model: bool = True) -> pd.DataFrame:
    rows = [
        {
            "end_to_end_id": f"E{i}",
            "event_time": pd.Timestamp(f"{day} 12:00", tz="UTC"),
            "amount_brl": amount,
            "local_hour": hour,
            "score": score if with_model else None,
            "decision": decision,
            "rule_hits": hits,
            "model_version": "7" if with_model else None,
            "rules_version": "r1",
            "is_fraud": fraud,
            "fraud_type": kind,
        }
        for i, day, amount, score, decision, hits, fraud, kind, hour in PAYMENTS
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def report():  # noqa: ANN201
    return backtest_report(frame(), "hand", budgets=(0.1, 0.3), k=2)


def test_ranking_metrics_match_the_hand_computed_values(report) -> None:  # noqa: ANN001
    ranking = report.ranking.set_index("ranking")
    # model: frauds at ranks 1, 3, 4 -> (1 + 2/3 + 3/4) / 3; 19 of 21 fraud-legit pairs in order
    assert ranking.loc[MODEL, "average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert ranking.loc[MODEL, "roc_auc"] == pytest.approx(19 / 21)
    # rules only (rules fired 2 | 1 1 1 | 0...): 1/3 * 1 + 1/3 * 2/4 + 1/3 * 3/10
    assert ranking.loc[RULES, "average_precision"] == pytest.approx((1 + 0.5 + 0.3) / 3)
    assert report.payments == 10 and report.frauds == 3 and report.fraud_brl == 1300.0


def test_alert_budgets_count_frauds_and_reais_caught(report) -> None:  # noqa: ANN001
    at = report.at_budgets.set_index(["ranking", "budget"])
    model = at.loc[(MODEL, 0.3)]  # top 3 by score: E1, E2, E3
    assert (model.alerts, model.frauds_caught, model.fraud_brl_caught) == (3, 2, 300.0)
    assert model.precision == pytest.approx(2 / 3) and model.brl_recall == pytest.approx(300 / 1300)
    rules = at.loc[(RULES, 0.3)]  # E1 (two rules), then E2 and E5 (one each, first in the file)
    assert (rules.frauds_caught, rules.fraud_brl_caught) == (1, 100.0)
    both = at.loc[(BOTH, 0.3)]  # BLOCK E1, then the REVIEWs E2 and E6
    assert (both.frauds_caught, both.fraud_brl_caught) == (2, 1100.0)
    assert both.recall == pytest.approx(2 / 3)
    assert at.loc[(MODEL, 0.1)].alerts == 1 and at.loc[(MODEL, 0.1)].precision == 1.0


def test_daily_top_k_decisions_rules_types_and_bands(report) -> None:  # noqa: ANN001
    daily = report.daily_top_k.set_index("ranking").loc[MODEL]
    # day 1: E1, E2 (one fraud); day 2: E6, E10 (one fraud)
    assert (daily.days, daily.frauds_caught, daily.mean_daily_precision) == (2, 2, 0.5)
    decisions = report.decisions.set_index("decision")
    assert list(decisions.index) == ["BLOCK", "REVIEW", "APPROVE"]
    assert decisions.loc["REVIEW", "precision"] == 0.5 and decisions.loc["APPROVE", "fraud_brl"] == 200.0
    rules = report.rules.set_index("rule")
    assert (rules.loc["A", "fired"], rules.loc["A", "frauds"]) == (3, 2)
    assert rules.loc["B", "precision"] == 0.5 and rules.loc["A", "share_of_frauds"] == pytest.approx(2 / 3)
    types = report.by_type.set_index("fraud_type")
    assert types.loc["account_takeover", "recall"] == 1.0 and types.loc["account_takeover", "fraud_brl_alerted"] == 1100
    assert types.loc["mule_fan_in", "recall"] == 0.0 and types.loc["mule_fan_in", "fraud_brl"] == 200.0
    bands = report.by_amount.set_index("amount_band")
    assert (bands.loc["R$ 0-100", "payments"], bands.loc["R$ 0-100", "alerts"]) == (7, 1)
    assert bands.loc["R$ 100-500", "precision"] == 1.0 and bands.loc["R$ 100-500", "recall"] == 0.5
    hours = report.by_hour.set_index("local_hour")
    assert hours.loc[14, "payments"] == 3 and hours.loc[14, "frauds"] == 1 and hours.loc[14, "alerts"] == 0


def test_the_page_and_the_mlflow_metrics(report) -> None:  # noqa: ANN001
    page = render_backtest_report(report)
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 2
    assert "R$ 1,100" in page and "mule_fan_in" in page
    metrics = report.metrics()
    assert metrics["model_precision_at_30pct"] == pytest.approx(2 / 3)
    assert metrics["both_fraud_brl_caught_at_30pct"] == 1100.0


def test_without_a_model_the_rules_rankings_remain() -> None:
    report = backtest_report(frame(with_model=False), "rules", budgets=(0.3,), k=2)
    assert set(report.ranking["ranking"]) == {RULES, BOTH}
    both = report.at_budgets.set_index("ranking").loc[BOTH]  # BLOCK E1, then REVIEW E2 and E6
    assert both.frauds_caught == 2
    assert "<h1>Backtest rules</h1>" in render_backtest_report(report)
    with pytest.raises(ValueError, match="both frauds and legitimate"):
        backtest_report(frame().assign(is_fraud=False), "none")
