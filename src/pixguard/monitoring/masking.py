"""Personal data out of logs, alerts and metric labels (LGPD).

CPF and CNPJ numbers and Pix keys (a document, an e-mail, a phone number or a random EVP key) are
personal data. The Delta tables keep what the business needs; anything operators read (log lines,
alert events, Prometheus labels) goes through `mask_text` first. CPF masking follows the form the
Central Bank's DICT shows to payers (`***.456.789-**`)."""

from __future__ import annotations

import logging
import re

# Formatted first, bare digits after, so a formatted number is masked whole. Bare runs are bounded
# by non-digits but may touch letters: an end_to_end_id ("E6074…") is one word and stays intact
# because its digit run is longer than 14.
_CNPJ_FORMATTED = re.compile(r"(?<!\d)(\d{2})\.(\d{3})\.(\d{3})/(\d{4})-(\d{2})(?!\d)")
_CPF_FORMATTED = re.compile(r"(?<!\d)(\d{3})\.(\d{3})\.(\d{3})-(\d{2})(?!\d)")
_PHONE = re.compile(r"\+55\s?\(?(\d{2})\)?\s?(\d{4,5})-?(\d{4})(?!\d)")
_DIGITS = re.compile(r"(?<![\d.])(\d{11}|\d{14})(?![\d])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_EVP = re.compile(r"\b([0-9a-fA-F]{4})[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def mask_cpf(digits: str) -> str:
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def mask_cnpj(digits: str) -> str:
    return f"{digits[:2]}.***.***/****-**"


def mask_document(document: str) -> str:
    """A CPF (11 digits) or CNPJ (14 digits), formatted or not; anything else is masked whole."""
    digits = re.sub(r"\D", "", document)
    if len(digits) == 11:
        return mask_cpf(digits)
    if len(digits) == 14:
        return mask_cnpj(digits)
    return "***"


def mask_pix_key(key: str) -> str:
    """Any Pix key type: document, e-mail, phone or EVP."""
    masked = mask_text(key)
    return masked if masked != key else "***"


def mask_text(text: str) -> str:
    """Free text with every document, e-mail, phone and EVP key in it masked."""
    text = _CNPJ_FORMATTED.sub(lambda m: mask_cnpj("".join(m.groups())), text)
    text = _CPF_FORMATTED.sub(lambda m: mask_cpf("".join(m.groups())), text)
    text = _PHONE.sub(lambda m: f"+55{m.group(1)}*****{m.group(3)[-2:]}", text)
    text = _DIGITS.sub(lambda m: mask_document(m.group(1)), text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _EVP.sub(lambda m: f"{m.group(1)}****-****-****-****-************", text)


def safe_label(value: object) -> str:
    """A Prometheus label value: masked, and short, so a stray payload can neither leak nor explode
    the series count with huge values."""
    return mask_text(str(value))[:64]


class MaskingFilter(logging.Filter):
    """Masks the rendered message of every record passing through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of `logger` (the root by default). A filter on a handler sees
    the records of all loggers below it, which a filter on the logger itself would not."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
