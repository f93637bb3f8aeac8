"""One contract, two enforcers: Great Expectations and the compiled stream checks agree, check by check."""

from __future__ import annotations

from pathlib import Path

from pixguard.domain.contract import TRANSACTION_CONTRACT, load_transaction_checks
from pixguard.domain.schema import TRANSACTION_FIELDS
from pixguard.infra.quality import validate_dataframe

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_great_expectations_and_the_stream_checks_count_the_same_violations(spark) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    from tests.unit.test_validate import NOW, good_message

    base = good_message()
    variants = [
        {},
        {"amount_brl": 0.0},
        {"amount_brl": 20_000_000.0},
        {"end_to_end_id": "X123"},
        {"payee_key": "123", "payee_key_type": "CPF"},
        {"payee_key": None, "payee_key_type": None},
        {"payee_key": None, "payee_key_type": None, "initiation_type": "MANUAL"},
        {"payer_person_type": "ALIEN", "channel": "FAX"},
        {"payer_document": None},
        {"payer_document": "52998224724", "payee_document": "11222333000182"},
        {"payee_key": "11111111111", "payee_key_type": "CPF"},
        {"payer_document": "11222333000181", "payee_document": "52998224725"},
        {"payee_key": "12ABC34501DE35", "payee_key_type": "CNPJ", "payee_document": "12ABC34501DE35"},
        {"payee_key": "+5511987654321", "payee_key_type": "PHONE"},
        {"payee_key_type": None},  # a key whose format nothing can check
    ]
    rows = []
    for variant in variants:
        message = {**base, **variant, "event_time": NOW.replace(tzinfo=None)}
        rows.append(tuple(message.get(name) for name in TRANSACTION_FIELDS))
    ddl = ", ".join(f"{name} {kind}" for name, kind in TRANSACTION_FIELDS.items())
    df = spark.createDataFrame(rows, ddl.replace("decimal(18,2)", "double")).withColumn(
        "amount_brl", F.col("amount_brl").cast("decimal(18,2)")
    )

    checks = load_transaction_checks(PROJECT_ROOT)
    stream_counts = sorted((check.reason, df.where(check.violation()).count()) for check in checks)
    report = validate_dataframe(df, PROJECT_ROOT / TRANSACTION_CONTRACT)
    ge_counts = sorted((outcome.reason, outcome.unexpected_count) for outcome in report.outcomes)

    # GE reports in its own order; (reason, violations) pairs must match one for one.
    assert ge_counts == stream_counts
    assert not report.success and sum(count for _, count in ge_counts) >= 8
