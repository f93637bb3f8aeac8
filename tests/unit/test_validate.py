"""Parsing and validation on a local SparkSession: each bad record gets the reason it deserves."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pixguard.domain.contract import load_transaction_checks
from pixguard.stream.validate import (
    EventTimeBounds,
    parse_transactions,
    with_quarantine_reasons,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
BOUNDS = EventTimeBounds(max_event_age_s=86_400, max_clock_skew_s=300)


def valid_cpf(n: int) -> str:
    """A CPF with right check digits, distinct for each n below 10^9."""
    import numpy as np

    from pixguard.simulator.documents import cpfs

    return str(cpfs(np.array([n]))[0])


def valid_cnpj(n: int) -> str:
    """A CNPJ with right check digits, distinct for each n."""
    import numpy as np

    from pixguard.simulator.documents import cnpjs

    return str(cnpjs(np.array([n]))[0])


def good_message(**overrides: object) -> dict:
    message = {
        "schema_version": 1,
        "end_to_end_id": "E60746948202611251159a1B2c3D4e5F",
        "event_time": "2026-11-25T11:59:00.250Z",
        "amount_brl": 150.75,
        "initiation_type": "KEY",
        "channel": "APP",
        "payer_ispb": "60746948",
        "payer_branch": "0001",
        "payer_account": "123456",
        "payer_account_type": "CACC",
        "payer_document": "52998224725",
        "payer_person_type": "NATURAL",
        "payer_device_id": "dev-1",
        "payee_ispb": "18236120",
        "payee_branch": "0001",
        "payee_account": "998877",
        "payee_account_type": "TRAN",
        "payee_document": "11222333000181",
        "payee_person_type": "LEGAL",
        "payee_key": "pagamentos@loja.com.br",
        "payee_key_type": "EMAIL",
    }
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not ...}


def kafka_rows(spark, values: list[bytes | None]):  # noqa: ANN001, ANN201
    rows = [
        (b"k", value, "pix.transactions", 0, offset, NOW.replace(tzinfo=None)) for offset, value in enumerate(values)
    ]
    schema = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
    return spark.createDataFrame(rows, schema)


def reasons_of(spark, values: list[bytes | None]) -> list[list[str]]:  # noqa: ANN001
    checks = load_transaction_checks(__import__("pathlib").Path(__file__).resolve().parents[2])
    checked = with_quarantine_reasons(parse_transactions(kafka_rows(spark, values)), checks, BOUNDS, NOW)
    return [list(r.quarantine_reasons) for r in checked.orderBy("offset").collect()]


def encode(message: dict) -> bytes:
    return json.dumps(message).encode()


def test_a_valid_message_has_no_reason_and_typed_fields(spark) -> None:  # noqa: ANN001
    checks = load_transaction_checks(__import__("pathlib").Path(__file__).resolve().parents[2])
    checked = with_quarantine_reasons(
        parse_transactions(kafka_rows(spark, [encode(good_message())])), checks, BOUNDS, NOW
    )
    (row,) = checked.where("size(quarantine_reasons) = 0").collect()
    assert str(row.amount_brl) == "150.75"
    assert row.event_time == datetime(2026, 11, 25, 11, 59, 0, 250_000)
    assert row.schema_version == 1 and row.payer_branch == "0001"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"{not json", ["malformed_json"]),
        (b"", ["empty_message"]),
        (None, ["empty_message"]),
        (encode(good_message(amount_brl="abc")), ["wrong_type_amount_brl"]),
        (encode(good_message(amount_brl=12.345)), ["wrong_type_amount_brl"]),  # not rounded to 12.35
        (encode(good_message(amount_brl=0.005)), ["wrong_type_amount_brl"]),  # nor to 0.01
        (encode(good_message(amount_brl="12.30")), []),
        (encode(good_message(payee_key_type=...)), ["missing_payee_key_type"]),  # a key unchecked by type
        (encode(good_message(event_time="yesterday")), ["wrong_type_event_time"]),
        (encode(good_message(amount_brl=...)), ["missing_amount_brl"]),
        (encode(good_message(amount_brl=0)), ["amount_out_of_range"]),
        (encode(good_message(amount_brl=-5)), ["amount_out_of_range"]),
        (encode(good_message(amount_brl=99_000_000)), ["amount_out_of_range"]),
        (encode(good_message(end_to_end_id="E123")), ["invalid_end_to_end_id"]),
        (encode(good_message(payer_ispb="6074694")), ["invalid_payer_ispb"]),
        (encode(good_message(payee_key="not-an-email")), ["invalid_payee_key"]),
        (encode(good_message(payee_key="+5511987654321", payee_key_type="PHONE")), []),
        (encode(good_message(payee_key="123", payee_key_type="CPF")), ["invalid_payee_key"]),
        (encode(good_message(payee_key="52998224725", payee_key_type="CPF")), []),
        (encode(good_message(payee_key="52998224724", payee_key_type="CPF")), ["invalid_payee_key"]),
        (encode(good_message(payee_key="12ABC34501DE35", payee_key_type="CNPJ")), []),
        (encode(good_message(payee_key="11222333000182", payee_key_type="CNPJ")), ["invalid_payee_key"]),
        (encode(good_message(payee_key="52998224725", payee_key_type="CNPJ")), ["invalid_payee_key"]),
        (encode(good_message(payer_document="52998224715")), ["invalid_payer_document"]),
        (encode(good_message(payee_document="11222333000180")), ["invalid_payee_document"]),
        (encode(good_message(payee_document="12ABC34501DE35")), []),
        (encode(good_message(payer_document="11222333000181")), ["invalid_payer_document"]),  # a person's CNPJ
        (encode(good_message(payee_document="52998224725")), ["invalid_payee_document"]),  # a company's CPF
        (encode(good_message(payee_document="52998224725", payee_person_type="NATURAL")), []),
        (encode(good_message(payee_key=..., payee_key_type=...)), ["missing_payee_key"]),
        (encode(good_message(payee_key=..., payee_key_type=..., initiation_type="MANUAL")), []),
        (encode(good_message(schema_version=2)), ["unsupported_schema_version"]),
        (
            encode(good_message(payer_person_type="ALIEN", channel="FAX")),
            ["invalid_payer_person_type", "invalid_channel"],
        ),
        (encode(good_message(event_time="2026-11-25T12:30:00Z")), ["event_time_in_future"]),
        (encode(good_message(event_time="2026-11-20T12:00:00Z")), ["event_time_too_old"]),
    ],
)
def test_each_kind_of_bad_record_gets_its_reason(spark, message: bytes | None, expected: list[str]) -> None:  # noqa: ANN001
    assert reasons_of(spark, [message]) == [expected]


def test_the_hot_path_input_has_one_row_per_record_with_its_kind_bytes_and_coordinates(spark) -> None:  # noqa: ANN001
    from pixguard.stream.hot_path import HotPathTopics, hot_path_input

    values = [encode(good_message()), b"{broken", encode(good_message(amount_brl=-1)), encode(good_message())]
    checks = load_transaction_checks(__import__("pathlib").Path(__file__).resolve().parents[2])
    topics = HotPathTopics("pix.transactions", "pix.dict-keys", "pix.dict-marks", "d", "a", "q", "l")
    bounds = EventTimeBounds(86_400, 300)
    rows = hot_path_input(kafka_rows(spark, values), topics, checks, bounds).orderBy("offset").collect()
    assert [(r.offset, r.kind) for r in rows] == [
        (0, "payment"),
        (1, "quarantined"),
        (2, "quarantined"),
        (3, "payment"),
    ]
    assert [list(r.quarantine_reasons) for r in rows[1:3]] == [["malformed_json"], ["amount_out_of_range"]]
    assert bytes(rows[1].value) == b"{broken" and rows[1].end_to_end_id is None
    assert rows[2].end_to_end_id == good_message()["end_to_end_id"] and rows[2].payment is None
    payment = rows[0].payment
    assert str(payment.amount_brl) == "150.75" and payment.local_hour == 8 and payment.is_night is False
    assert rows[0].event_time == payment.event_time and rows[1].event_time == rows[1].kafka_timestamp
