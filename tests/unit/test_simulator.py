"""The simulator's data: valid Pix identifiers, configured fraud shares, late labels, determinism."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pixguard.domain.schema import TRANSACTION_FIELDS
from pixguard.simulator.documents import is_valid_cnpj, is_valid_cpf
from pixguard.simulator.generator import IdSequence, report_delays_hours, simulate_window, to_messages
from pixguard.simulator.history import simulate_history
from pixguard.simulator.identifiers import END_TO_END_ID, is_valid_key
from pixguard.simulator.institutions import KNOWN_ISPBS
from pixguard.simulator.live import made_ahead
from pixguard.simulator.population import generate_population
from pixguard.simulator.scenarios import SCENARIOS
from pixguard.simulator.settings import (
    HistorySettings,
    LabelSettings,
    PopulationSettings,
    SimulatorConfig,
    load_simulator_config,
)
from pixguard.simulator.traffic import seasonal_times

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SMALL = SimulatorConfig(population=PopulationSettings(persons=4_000, companies=400))
START, END = pd.Timestamp("2026-11-02T00:00:00Z"), pd.Timestamp("2026-11-09T00:00:00Z")


@pytest.fixture(scope="module")
def week() -> pd.DataFrame:
    population = generate_population(SMALL.population.model_copy(update={"seed": 5}))
    return simulate_window(population, SMALL, START, END, 200_000, IdSequence(3), np.random.default_rng(5))


def test_the_shipped_settings_load() -> None:
    config = load_simulator_config(PROJECT_ROOT)
    assert {name for name, _ in config.scenarios.items()} == set(SCENARIOS)
    assert 0.001 <= sum(share for _, share in config.scenarios.items()) <= 0.01


def test_every_document_key_and_ispb_is_valid() -> None:
    population = generate_population(SMALL.population.model_copy(update={"seed": 9}))
    persons, companies = population.document[~population.is_company], population.document[population.is_company]
    assert all(is_valid_cpf(d) for d in persons) and all(is_valid_cnpj(d) for d in companies)
    assert len(set(population.document)) == population.size
    keys = population.keys
    assert all(is_valid_key(k, t) for k, t in zip(keys["key"], keys["key_type"], strict=True))
    assert keys["key"].is_unique and set(keys["key_type"]) == {"CPF", "CNPJ", "EMAIL", "PHONE", "EVP"}
    assert set(population.ispb) <= KNOWN_ISPBS
    per_account = np.bincount(keys["owner"], minlength=population.size)
    assert per_account.min() >= 1 and per_account.max() <= 5


def test_check_digit_validators_refuse_wrong_numbers() -> None:
    assert is_valid_cpf("52998224725") and not is_valid_cpf("52998224724") and not is_valid_cpf("11111111111")
    assert is_valid_cnpj("11222333000181") and not is_valid_cnpj("11222333000182")


def test_transactions_carry_valid_unique_end_to_end_ids_and_keys(week) -> None:  # noqa: ANN001
    tx = week.transactions
    assert tx["end_to_end_id"].is_unique
    matches = tx["end_to_end_id"].str.extract(END_TO_END_ID.pattern)
    assert matches.notna().all().all()
    assert (matches["ispb"] == tx["payer_ispb"]).all()
    assert (matches["stamp"] == pd.DatetimeIndex(tx["event_time"]).strftime("%Y%m%d%H%M")).all()
    keyed = tx[tx["payee_key"].notna()]
    assert all(is_valid_key(k, t) for k, t in zip(keyed["payee_key"], keyed["payee_key_type"], strict=True))
    assert (tx.loc[tx["payee_key"].isna(), "initiation_type"] == "MANUAL").all()
    assert set(tx["payer_ispb"]) | set(tx["payee_ispb"]) <= KNOWN_ISPBS
    assert tx["event_time"].is_monotonic_increasing and tx["event_time"].between(START, END, inclusive="left").all()


def test_fraud_share_per_scenario_follows_the_configuration(week) -> None:  # noqa: ANN001
    tx = week.transactions
    assert len(tx) == pytest.approx(200_000, rel=0.001)
    for name, share in SMALL.scenarios.items():
        observed = (tx["scenario"] == name).mean()
        assert observed == pytest.approx(share, rel=0.25), name
    assert 0.001 <= tx["is_fraud"].mean() <= 0.01


def test_rhythm_of_the_day_and_night_limit(week) -> None:  # noqa: ANN001
    tx = week.transactions[~week.transactions["is_fraud"]]
    local = pd.DatetimeIndex(tx["event_time"]).tz_convert("America/Sao_Paulo")
    by_hour = np.bincount(local.hour, minlength=24)
    assert by_hour[11] > 5 * by_hour[3]
    night = (local.hour >= 20) | (local.hour < 6)
    persons = (tx["payer_person_type"] == "NATURAL") & (tx["payee_person_type"] == "NATURAL")
    over = tx["amount_brl"] > 1_000
    assert (night & persons & over).sum() < 0.1 * (~night & persons & over).sum()


def test_a_window_off_the_minute_is_filled_evenly() -> None:
    """Live windows start wherever the clock is: a minute the window only partly covers must not pile
    its uncovered seconds onto the window's edges (the bench once saw 30,000 payments in one second)."""
    start = pd.Timestamp("2026-11-26T02:45:35.192Z")
    times = seasonal_times(start, start + pd.Timedelta(seconds=60), 60_000, np.random.default_rng(7))
    assert times.min() >= start and times.max() < start + pd.Timedelta(seconds=60)
    per_second = np.bincount(((times - start) / pd.Timedelta(seconds=1)).astype(int), minlength=60)
    assert per_second.max() < 1_200, per_second.max()  # 1,000 a second on average
    assert per_second.min() > 800, per_second.min()


def test_scenarios_leave_no_trace_in_messages(week) -> None:  # noqa: ANN001
    messages = to_messages(week.transactions.head(5_000))
    decoded = [json.loads(m) for m in messages]
    assert all(list(d) == list(TRANSACTION_FIELDS) for d in decoded)
    assert not any("scenario" in m.decode() or "is_fraud" in m.decode() for m in messages)
    first = week.transactions.iloc[0]
    assert decoded[0]["end_to_end_id"] == first["end_to_end_id"] and decoded[0]["amount_brl"] == first["amount_brl"]


def test_fraud_incidents_have_their_signature(week) -> None:  # noqa: ANN001
    tx = week.transactions
    fan_in = tx[tx["scenario"] == "mule_fan_in"].groupby("incident")
    assert (fan_in["payer_document"].nunique() >= 8).all() and (fan_in["payee_document"].nunique() == 1).all()
    takeover = tx[tx["scenario"] == "account_takeover"]
    population_devices = set(generate_population(SMALL.population.model_copy(update={"seed": 5})).device)
    assert not set(takeover["payer_device_id"]) & population_devices
    fresh = week.new_keys.set_index("key")["created_at"]
    relatives = tx[tx["scenario"] == "fake_relative"]
    age = pd.DatetimeIndex(relatives["event_time"]) - pd.DatetimeIndex(fresh.loc[relatives["payee_key"]])
    assert (age > pd.Timedelta(0)).all() and (age <= pd.Timedelta(hours=72)).all()


def test_label_delays_follow_the_configured_distribution() -> None:
    settings = LabelSettings(delay_median_hours=48, delay_sigma=0.8, min_delay_hours=1, max_delay_days=80)
    delays = report_delays_hours(50_000, settings, np.random.default_rng(1))
    assert np.median(delays) == pytest.approx(48, rel=0.05)
    assert np.std(np.log(delays)) == pytest.approx(0.8, rel=0.05)
    assert delays.min() >= 1 and delays.max() <= 80 * 24


def test_reports_come_late_some_never_and_a_few_are_false(week) -> None:  # noqa: ANN001
    labels, tx = week.labels, week.transactions
    frauds = tx["is_fraud"].sum()
    true_reports = (~labels["is_false_report"]).sum()
    assert true_reports / frauds == pytest.approx(SMALL.labels.report_probability, abs=0.05)
    false_rate = labels["is_false_report"].sum() / (~tx["is_fraud"]).sum()
    assert 0 < false_rate < 5 * SMALL.labels.false_report_rate
    assert (labels["reported_at"] > labels["event_time"]).all()


def test_dict_marks_follow_confirmed_frauds_only(week) -> None:  # noqa: ANN001
    confirmed = week.labels[~week.labels["is_false_report"]].merge(week.transactions, on="end_to_end_id")
    marked = week.dict_marks.set_index("marked_value")["marked_at"]
    assert set(marked.index) <= set(confirmed["payee_key"].dropna()) | set(confirmed["payee_document"])
    first_report = confirmed.groupby("payee_document")["reported_at"].min()
    documents = marked[marked.index.isin(first_report.index)]
    assert (documents >= first_report.loc[documents.index] + pd.Timedelta(hours=24)).all()


def test_same_seed_same_data_other_seed_other_data() -> None:
    small = SMALL.model_copy(update={"history": HistorySettings(transactions_per_day=3_000)})
    end = pd.Timestamp("2026-11-20T00:00:00Z")
    first, _ = simulate_history(small, 2, seed=42, end=end)
    again, _ = simulate_history(small, 2, seed=42, end=end)
    other, _ = simulate_history(small, 2, seed=43, end=end)
    assert to_messages(first.transactions) == to_messages(again.transactions)
    assert first.labels.equals(again.labels)
    assert to_messages(first.transactions)[:100] != to_messages(other.transactions)[:100]


def test_the_stream_accepts_every_simulated_message(spark) -> None:  # noqa: ANN001
    from tests.unit.test_validate import reasons_of

    population = generate_population(SMALL.population.model_copy(update={"seed": 8}))
    # The validation clock of test_validate is 2026-11-25 12:00 UTC: simulate the hour before it.
    traffic = simulate_window(
        population,
        SMALL,
        pd.Timestamp("2026-11-25T11:00:00Z"),
        pd.Timestamp("2026-11-25T12:00:00Z"),
        3_000,
        IdSequence(1),
        np.random.default_rng(8),
    )
    reasons = reasons_of(spark, to_messages(traffic.transactions))
    assert len(reasons) == len(traffic.transactions) and not [r for r in reasons if r]


def test_live_traffic_is_made_a_chunk_ahead_in_order() -> None:
    made: list[int] = []
    second_made = threading.Event()

    def chunks():  # noqa: ANN202
        for n in range(4):
            made.append(n)
            if n == 1:
                second_made.set()
            yield n

    ahead = made_ahead(chunks())
    assert next(ahead) == 0
    # The second is made while the caller still holds the first.
    assert second_made.wait(10)
    assert made[:2] == [0, 1]
    assert list(ahead) == [1, 2, 3]


def test_an_error_making_live_traffic_reaches_the_publisher() -> None:
    def chunks():  # noqa: ANN202
        yield 1
        raise ValueError("population exhausted")

    ahead = made_ahead(chunks())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="population exhausted"):
        next(ahead)


def test_a_publisher_that_stops_early_stops_the_making() -> None:
    def chunks():  # noqa: ANN202
        yield from range(1_000)

    ahead = made_ahead(chunks())
    assert next(ahead) == 0
    (maker,) = [t for t in threading.enumerate() if t.name == "pixguard-live-traffic"]
    ahead.close()
    maker.join(30)
    assert not maker.is_alive()
