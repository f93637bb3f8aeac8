"""Pix keys of the five DICT types and EndToEndIds, generated vectorised and checked one by one."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pandas as pd

KEY_TYPES = ("CPF", "CNPJ", "EMAIL", "PHONE", "EVP")
_ALPHABET = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_EMAIL_DOMAINS = np.array(["gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "bol.com.br"])
_DDDS = np.array([11, 21, 31, 41, 51, 61, 71, 81, 85, 92, 27, 48, 62, 19, 12, 13, 16, 17, 24, 34])

END_TO_END_ID = re.compile(r"^E(?P<ispb>[0-9]{8})(?P<stamp>[0-9]{12})[A-Za-z0-9]{11}$")
_KEY_FORMATS = {
    "CPF": re.compile(r"^[0-9]{11}$"),
    "CNPJ": re.compile(r"^[0-9]{14}$"),
    "EMAIL": re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$"),
    "PHONE": re.compile(r"^[+]55[1-9][0-9]9[0-9]{8}$"),
    "EVP": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
}


def emails(owner_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    domains = _EMAIL_DOMAINS[rng.integers(0, len(_EMAIL_DOMAINS), len(owner_ids))]
    return np.array([f"cliente{o}@{d}" for o, d in zip(owner_ids, domains, strict=True)], dtype=object)


def phones(n: int, rng: np.random.Generator) -> np.ndarray:
    ddd = _DDDS[rng.integers(0, len(_DDDS), n)]
    number = rng.integers(0, 10**8, n)
    return np.array([f"+55{d}9{x:08d}" for d, x in zip(ddd, number, strict=True)], dtype=object)


def evps(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random (version 4) UUIDs drawn from the seeded generator, so the same seed gives the same keys."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return np.array([str(uuid.UUID(bytes=row.tobytes(), version=4)) for row in raw], dtype=object)


def is_valid_key(key: str, key_type: str) -> bool:
    pattern = _KEY_FORMATS.get(key_type)
    return bool(pattern and pattern.match(key)) and len(key) <= 77


def end_to_end_ids(ispbs: np.ndarray, times: pd.Series, salt: int, first_sequence: int) -> np.ndarray:
    """`E` + payer ISPB + yyyyMMddHHmm (UTC) + 11 alphanumerics encoding (salt, sequence): unique for
    every (salt, sequence) pair, so one generator stream never repeats an id."""
    sequence = np.arange(first_sequence, first_sequence + len(ispbs), dtype=np.uint64)
    if first_sequence + len(ispbs) >= 2**40 or not 0 <= salt < 2**23:
        raise ValueError("end_to_end_id space exhausted: sequence must stay below 2^40 and salt below 2^23")
    value = (np.uint64(salt) << np.uint64(40)) | sequence
    chars = np.empty((len(ispbs), 11), dtype="<U1")
    for position in range(10, -1, -1):
        chars[:, position] = _ALPHABET[(value % np.uint64(62)).astype(np.int64)]
        value //= np.uint64(62)
    suffixes = chars.view("<U11").ravel()
    minutes = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[m]")
    stamps = np.char.replace(
        np.char.replace(np.char.replace(np.datetime_as_string(minutes), "-", ""), "T", ""), ":", ""
    )
    return np.char.add(np.char.add(np.char.add("E", ispbs.astype(str)), stamps), suffixes).astype(object)
