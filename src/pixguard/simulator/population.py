"""Who pays whom: persons and companies with valid documents, accounts at real ISPBs, Pix keys of
all five types, devices, spending habits, contacts and favourite merchants. Column arrays indexed
by account number (0..n-1), built vectorised from a seed: the same seed gives the same population."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixguard.simulator.documents import cnpjs, cpfs
from pixguard.simulator.identifiers import emails, evps, phones
from pixguard.simulator.institutions import ISPB_WEIGHTS, ISPBS
from pixguard.simulator.settings import PopulationSettings

CONTACTS = 6
FAVOURITE_MERCHANTS = 3
# Local epoch of the population: accounts and keys were opened before it.
POPULATION_EPOCH = pd.Timestamp("2026-01-01T00:00:00Z")


@dataclass(frozen=True)
class Population:
    document: np.ndarray
    is_company: np.ndarray
    is_merchant: np.ndarray
    is_mule: np.ndarray
    ispb: np.ndarray
    branch: np.ndarray
    account: np.ndarray
    account_type: np.ndarray
    device: np.ndarray
    second_device: np.ndarray
    activity: np.ndarray  # relative payment frequency (heavy-tailed)
    amount_mu: np.ndarray  # lognormal parameters of the account's usual payment
    amount_sigma: np.ndarray
    key_start: np.ndarray  # the account's keys are keys[key_start : key_start + key_count]
    key_count: np.ndarray
    keys: pd.DataFrame  # owner, key, key_type, created_at
    contacts: np.ndarray  # (n, CONTACTS) accounts the owner usually pays
    merchants_of: np.ndarray  # (n, FAVOURITE_MERCHANTS) merchants the owner usually buys from

    @property
    def size(self) -> int:
        return len(self.document)

    @property
    def merchants(self) -> np.ndarray:
        return np.flatnonzero(self.is_merchant)

    @property
    def mules(self) -> np.ndarray:
        return np.flatnonzero(self.is_mule)

    @property
    def persons(self) -> np.ndarray:
        return np.flatnonzero(~self.is_company)


def _hex_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    raw = rng.integers(0, 2**48, n)
    return np.array([f"{prefix}{x:012x}" for x in raw], dtype=object)


def _keys(
    is_company: np.ndarray, document: np.ndarray, opened: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    n = len(document)
    count = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    owner = np.repeat(np.arange(n), count)
    slot = np.arange(count.sum()) - np.repeat(start, count)
    key_type = rng.choice(np.array(["EMAIL", "PHONE", "EVP"], dtype=object), size=len(owner), p=[0.3, 0.35, 0.35])
    document_key = (slot == 0) & (rng.random(len(owner)) < 0.6)
    key_type[document_key] = np.where(is_company[owner[document_key]], "CNPJ", "CPF")
    # One e-mail and one phone per account at most: repeats become random keys.
    repeated = pd.Series(owner).duplicated().to_numpy() & (key_type != "EVP")
    repeated &= pd.DataFrame({"o": owner, "t": key_type}).duplicated().to_numpy()
    key_type[repeated] = "EVP"
    key = evps(len(owner), rng)
    for kind, values in (
        ("CPF", lambda m: document[owner[m]]),
        ("CNPJ", lambda m: document[owner[m]]),
        ("EMAIL", lambda m: emails(owner[m], rng)),
        ("PHONE", lambda m: phones(int(m.sum()), rng)),
    ):
        mask = key_type == kind
        key[mask] = values(mask)
    age_days = (POPULATION_EPOCH - opened[owner]).days.to_numpy()
    created = (opened[owner] + pd.to_timedelta(rng.random(len(owner)) * age_days, unit="D")).round("ms")
    keys = pd.DataFrame({"owner": owner, "key": key, "key_type": key_type, "created_at": created})
    keys = keys.drop_duplicates("key")  # a phone drawn twice stays with its first owner
    count = np.bincount(keys["owner"].to_numpy(), minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return keys.reset_index(drop=True), start, count


def generate_population(settings: PopulationSettings) -> Population:
    rng = np.random.default_rng([settings.seed, 1])
    n_persons, n_companies = settings.persons, settings.companies
    n = n_persons + n_companies
    ids = np.arange(n)
    is_company = ids >= n_persons
    document = np.concatenate([cpfs(ids[:n_persons]), cnpjs(ids[n_persons:] - n_persons)])
    is_merchant = is_company & (rng.random(n) < settings.merchant_share)
    is_mule = ~is_company & (rng.random(n) < settings.mule_share)
    ispb = rng.choice(ISPBS, size=n, p=ISPB_WEIGHTS)
    branch = np.char.zfill(rng.integers(1, 9999, n).astype(str), 4).astype(object)
    account = (10_000_000 + ids * 7 + rng.integers(0, 7, n)).astype(str).astype(object)
    account_type = np.where(
        is_company, "CACC", rng.choice(np.array(["CACC", "SVGS", "TRAN"]), size=n, p=[0.7, 0.1, 0.2])
    ).astype(object)
    activity = np.where(is_company, rng.lognormal(1.0, 1.0, n), rng.lognormal(0.0, 1.0, n))
    amount_mu = np.where(
        is_merchant,
        np.log(60) + rng.normal(0, 0.4, n),
        np.where(is_company, np.log(1_500) + rng.normal(0, 0.7, n), np.log(90) + rng.normal(0, 0.5, n)),
    )
    amount_sigma = np.where(is_company, 1.3, 1.1)
    opened = POPULATION_EPOCH - pd.to_timedelta(rng.uniform(30, 1_500, n), unit="D")
    keys, key_start, key_count = _keys(is_company, document, pd.DatetimeIndex(opened), rng)
    ordinary = np.flatnonzero(~is_mule)
    merchants = np.flatnonzero(is_merchant)
    return Population(
        document=document,
        is_company=is_company,
        is_merchant=is_merchant,
        is_mule=is_mule,
        ispb=ispb,
        branch=branch,
        account=account,
        account_type=account_type,
        device=_hex_ids("dev-", n, rng),
        second_device=_hex_ids("dev-", n, rng),
        activity=activity / activity.sum(),
        amount_mu=amount_mu,
        amount_sigma=amount_sigma,
        key_start=key_start,
        key_count=key_count,
        keys=keys,
        contacts=ordinary[rng.integers(0, len(ordinary), (n, CONTACTS))],
        merchants_of=merchants[rng.integers(0, len(merchants), (n, FAVOURITE_MERCHANTS))],
    )
