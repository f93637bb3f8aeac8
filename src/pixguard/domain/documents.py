"""CPF and CNPJ: the Receita Federal's check-digit rule, as weights and as a Spark SQL predicate.

A CPF is 11 digits. A CNPJ is 14 characters: since July 2026 new ones may carry upper-case letters
in the first 12 (IN RFB 2.229/2024); the last two are always digits. Both end in two mod-11 check
digits, each over the characters before it, a character counting as its ASCII code minus 48 (so a
digit counts as itself and 'A' as 17).
"""

from __future__ import annotations

from collections.abc import Callable

CPF_WEIGHTS = ((10, 9, 8, 7, 6, 5, 4, 3, 2), (11, 10, 9, 8, 7, 6, 5, 4, 3, 2))
CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))

CPF_FORMAT = "^[0-9]{11}$"
CNPJ_FORMAT = "^[0-9A-Z]{12}[0-9]{2}$"


def _check_digits_sql(value: Callable[[int], str], weights: tuple[tuple[int, ...], ...]) -> str:
    """Both check digits right, `value(position)` (from 1) being an SQL expression of a character's value."""
    checks = []
    for digit_weights in weights:
        total = " + ".join(f"{value(i + 1)} * {w}" for i, w in enumerate(digit_weights))
        # (10 * total mod 11) mod 10 is the rule's "11 - remainder, or 0 when the remainder is below 2".
        checks.append(f"(({total}) * 10 % 11 % 10) = {value(len(digit_weights) + 1)}")
    return " AND ".join(f"({check})" for check in checks)


def _characters(column: str) -> Callable[[int], str]:
    return lambda position: f"(ascii(substr({column}, {position}, 1)) - 48)"


def _digits(number: str, length: int) -> Callable[[int], str]:
    return lambda position: f"(({number} div {10 ** (length - position)}) % 10)"


def valid_document_sql(column: str) -> str:
    """A Spark SQL predicate, true when `column` (an SQL expression) holds a valid CPF or CNPJ.

    An all-digit document is read as one number and its digits taken by integer arithmetic, several
    times cheaper than cutting out one-character strings (the contract checks two documents a payment);
    only an alphanumeric CNPJ is read character by character. A value of a single repeated character
    passes the arithmetic but is no document: as a number, it is a multiple of 11...1."""
    number = f"try_cast({column} AS BIGINT)"

    def all_digits(length: int, weights: tuple[tuple[int, ...], ...]) -> str:
        return f"{_check_digits_sql(_digits(number, length), weights)} AND {number} % {'1' * length} <> 0"

    return (
        f"CASE length({column})"
        f" WHEN 11 THEN ({column} RLIKE '{CPF_FORMAT}') AND {all_digits(11, CPF_WEIGHTS)}"
        f" WHEN 14 THEN ({column} RLIKE '{CNPJ_FORMAT}') AND CASE WHEN {number} IS NULL"
        f" THEN {_check_digits_sql(_characters(column), CNPJ_WEIGHTS)} ELSE {all_digits(14, CNPJ_WEIGHTS)} END"
        " ELSE false END"
    )
