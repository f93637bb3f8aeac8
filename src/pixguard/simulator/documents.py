"""CPF and CNPJ numbers with valid check digits, generated vectorised and checked one by one."""

from __future__ import annotations

import numpy as np

from pixguard.domain.documents import CNPJ_WEIGHTS, CPF_WEIGHTS

_CPF_WEIGHTS_1, _CPF_WEIGHTS_2 = (np.array(w) for w in CPF_WEIGHTS)
_CNPJ_WEIGHTS_1, _CNPJ_WEIGHTS_2 = (np.array(w) for w in CNPJ_WEIGHTS)


def _check_digit(digits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    remainder = (digits * weights).sum(axis=1) % 11
    return np.where(remainder < 2, 0, 11 - remainder)


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers.astype(np.int64)[:, None] // powers) % 10


def _join(digits: np.ndarray) -> np.ndarray:
    return np.array(["".join(map(str, row)) for row in digits], dtype=object)


def _distinct_bases(ids: np.ndarray, space: int, salt: int) -> np.ndarray:
    """A bijection of ids onto [0, space): distinct ids give distinct bases (multiplier coprime to space)."""
    multiplier = 1_000_003  # prime, coprime to powers of ten
    bases = (ids.astype(np.int64) * multiplier + salt) % space
    # Repeated-digit numbers (000..., 111...) are invalid documents; the bases +1 of them are never
    # the image of another id in a population far smaller than the space, but are checked anyway.
    width = len(str(space - 1))
    repdigits = np.array([int(str(d) * width) for d in range(10)])
    bases = np.where(np.isin(bases, repdigits), bases + 1, bases)
    if len(np.unique(bases)) != len(np.unique(ids)):
        raise ValueError("document bases collided; use another salt")
    return bases


def cpfs(ids: np.ndarray, salt: int = 271_828_182) -> np.ndarray:
    """11-digit CPFs, one per distinct id in [0, 10^9)."""
    base = _digits(_distinct_bases(ids, 10**9, salt), 9)
    first = _check_digit(base, _CPF_WEIGHTS_1)
    with_first = np.column_stack([base, first])
    second = _check_digit(with_first, _CPF_WEIGHTS_2)
    return _join(np.column_stack([with_first, second]))


def cnpjs(ids: np.ndarray, salt: int = 31_415_926) -> np.ndarray:
    """14-digit CNPJs of head offices (branch 0001), one per distinct id in [0, 10^8)."""
    root = _digits(_distinct_bases(ids, 10**8, salt), 8)
    branch = np.tile(np.array([0, 0, 0, 1]), (len(ids), 1))
    base = np.column_stack([root, branch])
    first = _check_digit(base, _CNPJ_WEIGHTS_1)
    with_first = np.column_stack([base, first])
    second = _check_digit(with_first, _CNPJ_WEIGHTS_2)
    return _join(np.column_stack([with_first, second]))


def is_valid_cpf(value: str) -> bool:
    if len(value) != 11 or not value.isdigit() or len(set(value)) == 1:
        return False
    digits = np.array([int(c) for c in value])
    first = _check_digit(digits[None, :9], _CPF_WEIGHTS_1)[0]
    second = _check_digit(digits[None, :10], _CPF_WEIGHTS_2)[0]
    return digits[9] == first and digits[10] == second


def is_valid_cnpj(value: str) -> bool:
    if len(value) != 14 or not value.isdigit() or len(set(value)) == 1:
        return False
    digits = np.array([int(c) for c in value])
    first = _check_digit(digits[None, :12], _CNPJ_WEIGHTS_1)[0]
    second = _check_digit(digits[None, :13], _CNPJ_WEIGHTS_2)[0]
    return digits[12] == first and digits[13] == second
