"""CPF and CNPJ: the Receita Federal's check-digit rule, as weights and as a Spark SQL predicate.

A CPF is 11 digits. A CNPJ is 14 characters: since July 2026 new ones may carry upper-case letters
in the first 12 (IN RFB 2.229/2024); the last two are always digits. Both end in two mod-11 check
digits, each over the characters before it, a character counting as its ASCII code minus 48 (so a
digit counts as itself and 'A' as 17).
"""

from __future__ import annotations

CPF_WEIGHTS = ((10, 9, 8, 7, 6, 5, 4, 3, 2), (11, 10, 9, 8, 7, 6, 5, 4, 3, 2))
CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))

CPF_FORMAT = "^[0-9]{11}$"
CNPJ_FORMAT = "^[0-9A-Z]{12}[0-9]{2}$"


def _check_digits_sql(column: str, weights: tuple[tuple[int, ...], ...]) -> str:
    def value(position: int) -> str:
        return f"(ascii(substr({column}, {position}, 1)) - 48)"

    checks = []
    for digit_weights in weights:
        total = " + ".join(f"{value(i + 1)} * {w}" for i, w in enumerate(digit_weights))
        # (10 * total mod 11) mod 10 is the rule's "11 - remainder, or 0 when the remainder is below 2".
        checks.append(f"(({total}) * 10 % 11 % 10) = {value(len(digit_weights) + 1)}")
    return " AND ".join(f"({check})" for check in checks)


def valid_document_sql(column: str) -> str:
    """A Spark SQL predicate, true when `column` (an SQL expression) holds a valid CPF or CNPJ.

    A value of a single repeated character passes the arithmetic but is no document."""
    return (
        f"CASE length({column})"
        f" WHEN 11 THEN ({column} RLIKE '{CPF_FORMAT}') AND {_check_digits_sql(column, CPF_WEIGHTS)}"
        f" WHEN 14 THEN ({column} RLIKE '{CNPJ_FORMAT}') AND {_check_digits_sql(column, CNPJ_WEIGHTS)}"
        f" ELSE false END AND NOT ({column} RLIKE '^(.)\\\\1*$')"
    )
