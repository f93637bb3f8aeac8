"""Legitimate Pix payments with Pix's rhythms (day and week seasonality, night lull, salary days),
and the row builder every generator shares. Vectorised: one call builds a whole window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pixguard.features.calendar import NIGHT_ENDS_HOUR, NIGHT_STARTS_HOUR, PIX_TIME_ZONE
from pixguard.simulator.population import Population

# Relative activity per local hour (0..23) and weekday (Monday=0): quiet nights, busy late
# mornings and early evenings, calmer Sundays.
HOURLY = np.array([0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.2, 1.5, 1.7, 1.8,
                   1.8, 1.6, 1.5, 1.5, 1.5, 1.6, 1.7, 1.6, 1.3, 1.0, 0.7, 0.45])  # fmt: skip
WEEKDAY = np.array([1.0, 1.0, 1.0, 1.05, 1.2, 1.1, 0.75])
SALARY_DAYS = (5, 20)  # payroll days: more traffic, companies paying persons
NIGHT_LIMIT_BRL = 1_000.0  # BCB default night limit between individuals

NEW_PAYEE_SHARE, MERCHANT_SHARE = 0.2, 0.35


def local_hours(times: pd.DatetimeIndex) -> np.ndarray:
    return times.tz_convert(PIX_TIME_ZONE).hour.to_numpy()


def is_night(times: pd.DatetimeIndex) -> np.ndarray:
    hours = local_hours(times)
    return (hours >= NIGHT_STARTS_HOUR) | (hours < NIGHT_ENDS_HOUR)


def seasonal_times(start: pd.Timestamp, end: pd.Timestamp, n: int, rng: np.random.Generator) -> pd.DatetimeIndex:
    """n instants in [start, end) drawn minute by minute from the hourly, weekly and salary-day profile.
    A minute the window only partly covers weighs, and is drawn from, only its covered part: a live
    window starting at hh:mm:35 would otherwise pile the uncovered seconds onto its edges."""
    minutes = pd.date_range(start.floor("min"), end, freq="min", inclusive="left")
    if len(minutes) == 0:
        raise ValueError("the time window must be at least one minute long")
    first = np.maximum(minutes, start)
    covered_ms = ((np.minimum(minutes + pd.Timedelta(minutes=1), end) - first) / pd.Timedelta(1, "ms")).to_numpy()
    local = minutes.tz_convert(PIX_TIME_ZONE)
    weight = HOURLY[local.hour] * WEEKDAY[local.weekday] * np.where(np.isin(local.day, SALARY_DAYS), 1.4, 1.0)
    weight = weight * covered_ms
    chosen = rng.choice(len(minutes), size=n, p=weight / weight.sum())
    offsets_ms = np.floor(rng.random(n) * covered_ms[chosen])
    return pd.DatetimeIndex(first[chosen] + pd.to_timedelta(offsets_ms, unit="ms")).sort_values()


def lognormal_amounts(mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(mu, sigma), 2), 0.01, 1_000_000.0)


def payments(
    population: Population,
    payer: np.ndarray,
    payee: np.ndarray,
    times: pd.DatetimeIndex,
    amount: np.ndarray,
    rng: np.random.Generator,
    device: np.ndarray | None = None,
    initiation: np.ndarray | None = None,
    payee_key: np.ndarray | None = None,
    payee_key_type: np.ndarray | None = None,
) -> pd.DataFrame:
    """The message fields (without end_to_end_id) of payments payer[i] -> payee[i] at times[i].
    Unless given, the payee key is one of the payee's own keys, the device the payer's usual one."""
    n = len(payer)
    p = population
    if initiation is None:
        initiation = np.where(
            p.is_merchant[payee],
            rng.choice(np.array(["QR_DYNAMIC", "QR_STATIC"], dtype=object), size=n, p=[0.6, 0.4]),
            np.where(rng.random(n) < 0.08, "MANUAL", "KEY"),
        ).astype(object)
    if payee_key is None:
        pick = p.key_start[payee] + rng.integers(0, 1 << 30, n) % np.maximum(p.key_count[payee], 1)
        payee_key = p.keys["key"].to_numpy()[pick]
        payee_key_type = p.keys["key_type"].to_numpy()[pick]
        manual = initiation == "MANUAL"
        payee_key, payee_key_type = payee_key.copy(), payee_key_type.copy()
        payee_key[manual], payee_key_type[manual] = None, None
    if device is None:
        device = np.where(rng.random(n) < 0.03, p.second_device[payer], p.device[payer])
    channel = np.where(
        p.is_company[payer],
        rng.choice(np.array(["APP", "WEB", "API"], dtype=object), size=n, p=[0.3, 0.3, 0.4]),
        rng.choice(np.array(["APP", "WEB", "API"], dtype=object), size=n, p=[0.9, 0.09, 0.01]),
    )
    return pd.DataFrame(
        {
            "schema_version": 1,
            "event_time": times,
            "amount_brl": amount,
            "initiation_type": initiation,
            "channel": channel,
            "payer_ispb": p.ispb[payer],
            "payer_branch": p.branch[payer],
            "payer_account": p.account[payer],
            "payer_account_type": p.account_type[payer],
            "payer_document": p.document[payer],
            "payer_person_type": np.where(p.is_company[payer], "LEGAL", "NATURAL"),
            "payer_device_id": device,
            "payee_ispb": p.ispb[payee],
            "payee_branch": p.branch[payee],
            "payee_account": p.account[payee],
            "payee_account_type": p.account_type[payee],
            "payee_document": p.document[payee],
            "payee_person_type": np.where(p.is_company[payee], "LEGAL", "NATURAL"),
            "payee_key": payee_key,
            "payee_key_type": payee_key_type,
            "payer_index": payer,
            "payee_index": payee,
        }
    )


def legitimate_payments(
    population: Population, start: pd.Timestamp, end: pd.Timestamp, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    p = population
    times = seasonal_times(start, end, n, rng)
    local = times.tz_convert(PIX_TIME_ZONE)
    payer = rng.choice(p.size, size=n, p=p.activity)
    kind = rng.random(n)
    merchant = kind < MERCHANT_SHARE
    new = kind > 1 - NEW_PAYEE_SHARE
    payee = p.contacts[payer, rng.integers(0, p.contacts.shape[1], n)]
    favourite = p.merchants_of[payer, rng.integers(0, p.merchants_of.shape[1], n)]
    merchants = p.merchants
    payee = np.where(
        merchant, np.where(rng.random(n) < 0.85, favourite, merchants[rng.integers(0, len(merchants), n)]), payee
    )
    payee = np.where(new, rng.integers(0, p.size, n), payee)
    # Payroll: on salary days part of the traffic is companies paying persons.
    companies, persons = np.flatnonzero(p.is_company), p.persons
    payroll = np.isin(local.day, SALARY_DAYS) & (rng.random(n) < 0.1)
    payer = np.where(payroll, companies[rng.integers(0, len(companies), n)], payer)
    payee = np.where(payroll, persons[rng.integers(0, len(persons), n)], payee)
    payee = np.where(payee == payer, (payee + 1) % p.size, payee)

    amount = np.where(
        p.is_merchant[payee] & ~payroll,
        lognormal_amounts(p.amount_mu[payee], np.full(n, 0.9), rng),
        lognormal_amounts(p.amount_mu[payer], p.amount_sigma[payer], rng),
    )
    amount = np.where(payroll, lognormal_amounts(np.full(n, np.log(2_800)), np.full(n, 0.5), rng), amount)
    # Most individuals keep the default night limit between persons.
    between_persons = ~p.is_company[payer] & ~p.is_company[payee]
    over_limit = is_night(times) & between_persons & (amount > NIGHT_LIMIT_BRL) & (rng.random(n) < 0.97)
    amount = np.where(over_limit, np.round(rng.uniform(50, NIGHT_LIMIT_BRL, n), 2), amount)
    return payments(p, payer, payee, times, amount, rng)
