"""Personal data is masked in log lines, alert texts and metric labels; identifiers that are not
personal data (end_to_end_id) stay readable."""

from __future__ import annotations

import logging

import pytest

from pixguard.monitoring.masking import (
    MaskingFilter,
    mask_document,
    mask_pix_key,
    mask_text,
    safe_label,
)


@pytest.mark.parametrize(
    ("document", "masked"),
    [
        ("52998224725", "***.982.247-**"),
        ("529.982.247-25", "***.982.247-**"),
        ("11222333000181", "11.***.***/****-**"),
        ("11.222.333/0001-81", "11.***.***/****-**"),
        ("123", "***"),
    ],
)
def test_documents(document: str, masked: str) -> None:
    assert mask_document(document) == masked


@pytest.mark.parametrize(
    ("key", "secret_part"),
    [
        ("pagamentos@loja.com.br", "pagamentos"),
        ("+5511987654321", "98765"),
        ("52998224725", "52998224725"),
        ("123e4567-e89b-42d3-a456-556642440000", "e89b-42d3-a456-556642440000"),
        ("something-unexpected", "something-unexpected"),
    ],
)
def test_pix_keys_of_every_type(key: str, secret_part: str) -> None:
    masked = mask_pix_key(key)
    assert secret_part not in masked and masked


def test_free_text_masks_every_kind_and_keeps_end_to_end_ids() -> None:
    e2e = "E60746948202611251159a1B2c3D4e5F"
    text = (
        f"tx {e2e} payer 52998224725 (529.982.247-25) payee 11.222.333/0001-81 "
        "key pagamentos@loja.com.br phone +55 11 98765-4321 evp 123e4567-e89b-42d3-a456-556642440000"
    )
    masked = mask_text(text)
    assert e2e in masked
    for secret in ("52998224725", "529.982.247-25", "222.333", "pagamentos@", "98765", "556642440000"):
        assert secret not in masked, secret


def test_log_records_are_masked_through_the_handler_filter() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("pixguard.test.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("refused payer %s key %s", "52998224725", "ana@example.com")
    finally:
        logger.removeHandler(handler)
    assert records == ["refused payer ***.982.247-** key a***@example.com"]


def test_labels_are_masked_and_bounded() -> None:
    assert safe_label("529.982.247-25") == "***.982.247-**"
    assert len(safe_label("x" * 500)) == 64
