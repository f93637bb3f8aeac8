"""The CPF/CNPJ check-digit predicate both contract enforcers share, on a local SparkSession."""

from __future__ import annotations

import numpy as np
import pytest

from pixguard.domain.documents import valid_document_sql
from pixguard.simulator.documents import cnpjs, cpfs


def judged(spark, values: list[str | None]) -> list[bool | None]:  # noqa: ANN001
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(v,) for v in values], "document string")
    return [r.valid for r in df.select(F.expr(valid_document_sql("document")).alias("valid")).collect()]


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ("52998224725", True),
        ("11144477735", True),
        ("52998224724", False),  # second check digit off by one
        ("52998224715", False),  # first check digit off by one
        ("11111111111", False),  # repeated digits pass the arithmetic, but are no CPF
        ("5299822472", False),
        ("5299822472A", False),  # a CPF has no letters
        ("11222333000181", True),
        ("11222333000182", False),
        ("12ABC34501DE35", True),  # the Receita Federal's example of an alphanumeric CNPJ
        ("12ABC34501DE36", False),
        ("12abc34501de35", False),  # letters are upper case
        ("12ABC34501DE3A", False),  # the check digits stay numeric
        ("00000000000000", False),
        ("", False),
    ],
)
def test_a_document_is_valid_only_with_both_check_digits_right(spark, document: str, valid: bool) -> None:  # noqa: ANN001
    assert judged(spark, [document]) == [valid]


def test_every_generated_document_passes_and_any_changed_last_digit_fails(spark) -> None:  # noqa: ANN001
    ids = np.arange(0, 3_000, 7)
    documents = [*cpfs(ids), *cnpjs(ids)]
    altered = [d[:-1] + str((int(d[-1]) + 1 + i % 9) % 10) for i, d in enumerate(documents)]
    assert judged(spark, documents) == [True] * len(documents)
    assert judged(spark, altered) == [False] * len(altered)
