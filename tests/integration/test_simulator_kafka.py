"""The simulator and replay against the real broker, and history through the real decision pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pixguard.domain.schema import TRANSACTION_FIELDS
from pixguard.infra.datasets import DatasetError
from pixguard.simulator.history import simulate_history
from pixguard.simulator.identifiers import is_valid_key
from pixguard.simulator.population import generate_population
from pixguard.simulator.replay import replay
from pixguard.simulator.runs import run_history, run_live
from pixguard.simulator.settings import (
    DictMarkSettings,
    HistorySettings,
    LabelSettings,
    PopulationSettings,
    SimulatorConfig,
)
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

SMALL = SimulatorConfig(population=PopulationSettings(persons=3_000, companies=300))


def test_simulate_publishes_exactly_n_keyed_by_payer_account(isolated) -> None:  # noqa: ANN001
    bundle, config = isolated
    # Reports and the DICT marks they lead to compressed, so that they come due within the run.
    fast_reports = SMALL.model_copy(
        update={
            "labels": LabelSettings(delay_median_hours=0.001, min_delay_hours=0),
            "dict_marks": DictMarkSettings(min_delay_hours=0, max_delay_hours=0.0001),
        }
    )
    summary = run_live(bundle, config, fast_reports, rate=3_000, count=6_000, seed=7, progress=False)
    assert summary.sent == 6_000
    records = read_topic(bundle.target.kafka, config.topics.transactions.name)
    assert len(records) == 6_000 and len({r["end_to_end_id"] for _, r in records}) == 6_000
    assert all(key == f"{r['payer_ispb']}:{r['payer_branch']}:{r['payer_account']}" for key, r in records)
    assert all(list(r) == list(TRANSACTION_FIELDS) for _, r in records[:50])
    reports = read_topic(bundle.target.kafka, config.topics.fraud_reports.name)
    assert len(reports) == summary.reports_sent > 0
    sent_ids = {r["end_to_end_id"] for _, r in records}
    assert all(r["end_to_end_id"] in sent_ids for _, r in reports)

    # The DICT mirror: keys the frauds registered, marks on the payees of confirmed reports.
    keys = read_topic(bundle.target.kafka, config.topics.dict_keys.name)
    assert len(keys) == summary.keys_sent > 0
    assert all(k == r["key"] and is_valid_key(r["key"], r["key_type"]) for k, r in keys)
    assert all(pd.Timestamp(r["created_at"]) < pd.Timestamp.now(tz="UTC") for _, r in keys)
    marks = read_topic(bundle.target.kafka, config.topics.dict_marks.name)
    assert len(marks) == summary.marks_sent > 0
    paid = {r[field] for _, r in records for field in ("payee_key", "payee_document")}
    assert all(r["marked_value"] in paid and r["mark_type"] in ("KEY", "DOCUMENT") for _, r in marks)

    # The run's seed varies the traffic, not who exists: live payers are the history's people, on
    # their own devices (a takeover's new device aside), so the features the model learnt hold.
    people = generate_population(SMALL.population)
    accounts = zip(people.ispb, people.branch, people.account, strict=True)
    own = zip(people.device, people.second_device, strict=True)
    devices = {f"{i}:{b}:{a}": set(pair) for (i, b, a), pair in zip(accounts, own, strict=True)}
    assert all(key in devices for key, _ in records)
    own_device = sum(r["payer_device_id"] in devices[key] for key, r in records)
    assert own_device >= 0.98 * len(records), own_device


def _dataset(tmp_path: Path, rows: int) -> pd.DataFrame:
    small = SMALL.model_copy(update={"history": HistorySettings(transactions_per_day=2 * rows)})
    traffic, _ = simulate_history(small, 1, seed=3, end=pd.Timestamp.now(tz="UTC").floor("min"))
    frame = traffic.transactions.head(rows)[[*TRANSACTION_FIELDS, "is_fraud"]].copy()
    frame["event_time"] = pd.DatetimeIndex(frame["event_time"]).strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return frame


def test_replay_sends_exactly_the_rows_of_a_file_and_its_labels(isolated, spark, tmp_path: Path) -> None:  # noqa: ANN001
    bundle, config = isolated
    frame = _dataset(tmp_path, 400)
    frame.loc[frame.index[:3], "is_fraud"] = True
    path = tmp_path / "backtest.csv"
    frame.to_csv(path, index=False)
    summary = replay(spark, bundle, config, path, rate=5_000)
    records = read_topic(bundle.target.kafka, config.topics.transactions.name)
    assert summary.sent == len(records) == 400
    assert {r["end_to_end_id"] for _, r in records} == set(frame["end_to_end_id"])
    reports = read_topic(bundle.target.kafka, config.topics.fraud_reports.name)
    assert {r["end_to_end_id"] for _, r in reports} == set(frame.loc[frame["is_fraud"], "end_to_end_id"])


def test_a_file_that_breaks_the_contract_is_refused_and_nothing_is_sent(isolated, spark, tmp_path: Path) -> None:  # noqa: ANN001
    bundle, config = isolated
    frame = _dataset(tmp_path, 200)
    frame.loc[frame.index[57], "payee_ispb"] = "12AB"
    path = tmp_path / "bad.jsonl"
    frame.to_json(path, orient="records", lines=True)
    with pytest.raises(DatasetError, match=r"data row 58 .*column payee_ispb: invalid_payee_ispb"):
        replay(spark, bundle, config, path, rate=5_000)
    missing = tmp_path / "missing.parquet"
    frame.drop(columns=["amount_brl"]).to_parquet(missing)
    with pytest.raises(DatasetError, match="missing column.*amount_brl"):
        replay(spark, bundle, config, missing, rate=5_000)
    assert read_topic(bundle.target.kafka, config.topics.transactions.name, timeout_s=3) == []


def test_history_lands_in_delta_and_runs_through_the_decision_pipeline(isolated, spark) -> None:  # noqa: ANN001
    bundle, config = isolated
    # Reports within hours, not the default days: with a 72 h median over a two-day history, how many
    # frauds were reported by `end` depended on the hour the test ran at (none at all at 06:10 UTC).
    small = SMALL.model_copy(
        update={
            "history": HistorySettings(transactions_per_day=3_000),
            "labels": LabelSettings(delay_median_hours=6, min_delay_hours=0),
        }
    )
    end = pd.Timestamp.now(tz="UTC").floor("min")
    run = run_history(bundle, config, small, days=2, seed=21, end=end)

    def table(name: str):  # noqa: ANN202
        return spark.read.format("delta").load(bundle.target.table_path(name))

    truth, decisions = table(config.tables.transactions_truth), table(config.tables.decisions)
    assert truth.count() == run.history.transactions == run.decided
    assert decisions.select("end_to_end_id").distinct().count() == run.history.transactions
    assert run.quarantined == 0
    labels = table(config.tables.fraud_labels).toPandas()
    assert len(labels) == run.history.labels and (labels["reported_at"] <= end.tz_localize(None)).all()
    # Each label reports a fraud, or is one of the few false reports the truth records; a share of
    # the labels would be a ratio over a handful of them, whose number depends on the clock.
    frauds = truth.where("is_fraud").select("end_to_end_id").toPandas()["end_to_end_id"]
    false_reports = truth.where("is_false_report").select("end_to_end_id").toPandas()["end_to_end_id"]
    reports_fraud = labels["end_to_end_id"].isin(frauds)
    assert reports_fraud.any()
    assert (reports_fraud ^ labels["end_to_end_id"].isin(false_reports)).all()
    # Features as served: history reaches back, so later payments of a payer see the earlier ones.
    assert decisions.where("payer_history_tx_count > 0").count() > 0.3 * run.decided
    assert table(config.tables.key_registry).count() == run.history.keys
