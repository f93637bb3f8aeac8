"""Named fraud scenarios (see ../shared/PIX.md). Each builds whole incidents, sequences of payments
that look like ordinary Pix on their own; only their combination (new device, new payee, fresh key,
many payers into one account, the hour) gives them away. The scenario name goes to the ground truth
only, never into the message the stream sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixguard.features.calendar import PIX_TIME_ZONE
from pixguard.simulator.identifiers import evps, phones
from pixguard.simulator.population import Population
from pixguard.simulator.traffic import lognormal_amounts, payments


@dataclass(frozen=True)
class Incidents:
    payments: pd.DataFrame  # message fields + payer_index, payee_index
    new_keys: pd.DataFrame  # keys created for the fraud (owner, key, key_type, created_at)


@dataclass(frozen=True)
class Scenario:
    name: str
    mean_length: float  # payments per incident, to turn a share of transactions into incidents
    build: Callable[[Population, int, pd.Timestamp, pd.Timestamp, np.random.Generator], Incidents]


def _starts(start: pd.Timestamp, end: pd.Timestamp, n: int, rng: np.random.Generator) -> pd.DatetimeIndex:
    span_ms = (end - start) / pd.Timedelta(1, "ms")
    return start + pd.to_timedelta(rng.random(n) * span_ms * 0.9, unit="ms").round("ms")


def _span_s(start: pd.Timestamp, end: pd.Timestamp, seconds: float) -> float:
    """Incidents are squeezed into short windows (a one-minute live run still gets whole incidents)."""
    return min(seconds, (end - start).total_seconds() * 0.1)


def _sequence(
    first: pd.DatetimeIndex, lengths: np.ndarray, span_s: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Incident index and time of each payment: the first at the incident start, the rest within span_s."""
    incident = np.repeat(np.arange(len(lengths)), lengths)
    offset = rng.random(len(incident)) * np.repeat(span_s, lengths)
    offset[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = 0.0
    order = np.lexsort((offset, incident))
    times = first[incident] + pd.to_timedelta(offset[order] * 1000, unit="ms").round("ms")
    return incident, pd.DatetimeIndex(times)


def _to_hours(times: pd.DatetimeIndex, hours: np.ndarray, rng: np.random.Generator) -> pd.DatetimeIndex:
    """Move each instant to the given local hour of its own day (random minute)."""
    local = times.tz_convert(PIX_TIME_ZONE)
    midnight = local.normalize()
    moved = midnight + pd.to_timedelta(hours, unit="h") + pd.to_timedelta(rng.random(len(times)) * 3_600, unit="s")
    return moved.round("ms").tz_convert("UTC")


def _victims(population: Population, n: int, rng: np.random.Generator) -> np.ndarray:
    persons = population.persons[~population.is_mule[population.persons]]
    return persons[rng.integers(0, len(persons), n)]


def _mules(population: Population, n: int, rng: np.random.Generator) -> np.ndarray:
    mules = population.mules
    return mules[rng.integers(0, len(mules), n)]


def _fresh_keys(
    owners: np.ndarray, used_at: pd.DatetimeIndex, max_age_h: float, rng: np.random.Generator, phone_share: float
) -> pd.DataFrame:
    n = len(owners)
    is_phone = rng.random(n) < phone_share
    key = np.where(is_phone, phones(n, rng), evps(n, rng))
    age = pd.to_timedelta(rng.uniform(0.5, max_age_h, n), unit="h")
    return pd.DataFrame(
        {
            "owner": owners,
            "key": key,
            "key_type": np.where(is_phone, "PHONE", "EVP").astype(object),
            "created_at": (used_at - age).round("ms"),
        }
    )


def _new_device(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.array([f"dev-{x:012x}" for x in rng.integers(0, 2**48, n)], dtype=object)


def _no_keys() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "owner": np.array([], dtype=np.int64),
            "key": np.array([], dtype=object),
            "key_type": np.array([], dtype=object),
            "created_at": pd.DatetimeIndex([], tz="UTC"),
        }
    )


def account_takeover(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """A stolen credential on a new device drains the account: 2-4 large transfers to mule accounts
    the victim never paid, within minutes."""
    victims, lengths = _victims(p, n, rng), rng.integers(2, 5, n)
    incident, times = _sequence(_starts(start, end, n, rng), lengths, np.full(n, _span_s(start, end, 900)), rng)
    payer = victims[incident]
    amount = np.clip(np.round(np.exp(p.amount_mu[payer]) * rng.uniform(5, 25, len(payer)), 2), 150, 20_000)
    device = _new_device(n, rng)[incident]
    rows = payments(
        p,
        payer,
        _mules(p, len(payer), rng),
        times,
        amount,
        rng,
        device=device,
        initiation=np.full(len(payer), "KEY", dtype=object),
    )
    return Incidents(rows.assign(incident=incident), _no_keys())


def fake_relative(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """ "Falso parente": the victim pays a first-time payee behind a phone or random key created hours
    ago, hundreds to a few thousand reais, sometimes a second time ("it is urgent")."""
    victims, mules, lengths = _victims(p, n, rng), _mules(p, n, rng), rng.choice([1, 2], n, p=[0.6, 0.4])
    first = _to_hours(_starts(start, end, n, rng), rng.integers(9, 21, n), rng)
    first = first.where((first >= start) & (first < end), _starts(start, end, n, rng))
    incident, times = _sequence(first, lengths, np.full(n, _span_s(start, end, 3_600)), rng)
    keys = _fresh_keys(mules, first, 72, rng, phone_share=0.6)
    amount = np.clip(
        lognormal_amounts(np.full(len(incident), np.log(900)), np.full(len(incident), 0.6), rng), 100, 5_000
    )
    rows = payments(
        p,
        victims[incident],
        mules[incident],
        times,
        amount,
        rng,
        initiation=np.full(len(incident), "KEY", dtype=object),
        payee_key=keys["key"].to_numpy()[incident],
        payee_key_type=keys["key_type"].to_numpy()[incident],
    )
    return Incidents(rows.assign(incident=incident), keys)


def mule_fan_in(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """Conta laranja: one mule account receives from 8-16 unrelated payers within the hour, through a
    freshly created random key."""
    mules, lengths = _mules(p, n, rng), rng.integers(8, 17, n)
    first = _starts(start, end, n, rng)
    incident, times = _sequence(first, lengths, rng.uniform(1_200, 3_600, n).clip(max=_span_s(start, end, 3_600)), rng)
    keys = _fresh_keys(mules, first, 240, rng, phone_share=0.2)
    amount = np.clip(
        lognormal_amounts(np.full(len(incident), np.log(500)), np.full(len(incident), 0.7), rng), 50, 3_000
    )
    rows = payments(
        p,
        _victims(p, len(incident), rng),
        mules[incident],
        times,
        amount,
        rng,
        initiation=np.full(len(incident), "KEY", dtype=object),
        payee_key=keys["key"].to_numpy()[incident],
        payee_key_type=keys["key_type"].to_numpy()[incident],
    )
    return Incidents(rows.assign(incident=incident), keys)


def test_payments(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """Stolen access tested with 2-4 payments of a few cents or reais to a mule, then a large one."""
    victims, mules, small = _victims(p, n, rng), _mules(p, n, rng), rng.integers(2, 5, n)
    lengths = small + 1
    incident, times = _sequence(_starts(start, end, n, rng), lengths, np.full(n, _span_s(start, end, 1_800)), rng)
    position = np.arange(len(incident)) - np.repeat(np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    last = position == np.repeat(lengths - 1, lengths)
    payer = victims[incident]
    large = np.clip(np.round(np.exp(p.amount_mu[payer]) * rng.uniform(8, 30, len(payer)), 2), 500, 15_000)
    amount = np.where(last, large, np.round(rng.uniform(0.01, 2.0, len(payer)), 2))
    device = np.where(rng.random(n) < 0.5, _new_device(n, rng), p.device[victims])[incident]
    rows = payments(
        p,
        payer,
        mules[incident],
        times,
        amount,
        rng,
        device=device,
        initiation=np.full(len(incident), "KEY", dtype=object),
    )
    return Incidents(rows.assign(incident=incident), _no_keys())


def night_coercion(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """Sequestro relampago: at night, under coercion, the victim's own phone sends 1-3 large
    transfers to mule persons."""
    victims, lengths = _victims(p, n, rng), rng.integers(1, 4, n)
    hours = rng.choice([21, 22, 23, 24, 25, 26, 27], n)  # 24+ is after midnight of the next day
    first = _to_hours(_starts(start, end, n, rng), hours, rng)
    first = first.where((first >= start) & (first < end), _starts(start, end, n, rng))
    incident, times = _sequence(first, lengths, np.full(n, _span_s(start, end, 2_400)), rng)
    amount = np.clip(
        lognormal_amounts(np.full(len(incident), np.log(900)), np.full(len(incident), 0.5), rng), 200, 5_000
    )
    rows = payments(
        p,
        victims[incident],
        _mules(p, len(incident), rng),
        times,
        amount,
        rng,
        initiation=np.full(len(incident), "KEY", dtype=object),
    )
    return Incidents(rows.assign(incident=incident), _no_keys())


def qr_swap(p: Population, n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator):  # noqa: ANN201
    """A swapped QR code: the buyer pays a purchase-sized amount by dynamic QR, but the code carries
    a mule's random key instead of the merchant's."""
    victims, mules = _victims(p, n, rng), _mules(p, n, rng)
    times = _starts(start, end, n, rng)
    keys = _fresh_keys(mules, times, 240, rng, phone_share=0.0)
    merchant = p.merchants_of[victims, 0]
    amount = lognormal_amounts(p.amount_mu[merchant], np.full(n, 0.9), rng)
    rows = payments(
        p,
        victims,
        mules,
        pd.DatetimeIndex(times),
        amount,
        rng,
        initiation=np.full(n, "QR_DYNAMIC", dtype=object),
        payee_key=keys["key"].to_numpy(),
        payee_key_type=keys["key_type"].to_numpy(),
    )
    return Incidents(rows.assign(incident=np.arange(n)), keys)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("account_takeover", 3.0, account_takeover),
        Scenario("fake_relative", 1.4, fake_relative),
        Scenario("mule_fan_in", 12.0, mule_fan_in),
        Scenario("test_payments", 4.0, test_payments),
        Scenario("night_coercion", 2.0, night_coercion),
        Scenario("qr_swap", 1.0, qr_swap),
    )
}
