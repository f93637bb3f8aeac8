"""The Pix transaction message (schema_version 1) and the tables' schemas, declared once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

SCHEMA_VERSION = 1

# Field -> Spark SQL type of the parsed, typed transaction. Identifiers are strings of digits
# (leading zeros matter); money is an exact decimal.
TRANSACTION_FIELDS: dict[str, str] = {
    "schema_version": "int",
    "end_to_end_id": "string",
    "event_time": "timestamp",
    "amount_brl": "decimal(18,2)",
    "initiation_type": "string",
    "channel": "string",
    "payer_ispb": "string",
    "payer_branch": "string",
    "payer_account": "string",
    "payer_account_type": "string",
    "payer_document": "string",
    "payer_person_type": "string",
    "payer_device_id": "string",
    "payee_ispb": "string",
    "payee_branch": "string",
    "payee_account": "string",
    "payee_account_type": "string",
    "payee_document": "string",
    "payee_person_type": "string",
    "payee_key": "string",
    "payee_key_type": "string",
}

CORRUPT_RECORD = "_corrupt_record"


def transaction_schema() -> StructType:
    return struct_of(TRANSACTION_FIELDS)


def raw_json_schema() -> StructType:
    """Every field read as text first, so a wrong type is reported instead of silently nulled."""
    from pyspark.sql.types import StringType, StructType

    schema = StructType()
    for name in TRANSACTION_FIELDS:
        schema = schema.add(name, StringType(), nullable=True)
    return schema.add(CORRUPT_RECORD, StringType(), nullable=True)


# A fraud report (MED claim) on pix.fraud-reports: the late label of a transaction.
FRAUD_REPORT_TYPE = "MED_FRAUD"  # a victim's MED claim; the stream cannot tell a false one from a true one
LABEL_FIELDS: dict[str, str] = {
    "end_to_end_id": "string",
    "reported_at": "timestamp",
    "report_type": "string",
}


# The DICT mirror, fed from pix.dict-keys and pix.dict-marks: each message is a row of its table
# (key_registry, dict_marks), the reference tables the decisions join.
KEY_REGISTRY_FIELDS: dict[str, str] = {
    "key": "string",
    "key_type": "string",
    "owner_document": "string",
    "created_at": "timestamp",
}
DICT_MARK_FIELDS: dict[str, str] = {
    "marked_value": "string",
    "mark_type": "string",  # KEY, DOCUMENT or ACCOUNT (ISPB:branch:account)
    "marked_at": "timestamp",
}


def struct_of(fields: dict[str, str]) -> StructType:
    from pyspark.sql.types import StructType, _parse_datatype_string

    schema = StructType()
    for name, type_name in fields.items():
        schema = schema.add(name, _parse_datatype_string(type_name), nullable=True)
    return schema


def ddl_of(fields: dict[str, str]) -> str:
    return ", ".join(f"{name} {type_name}" for name, type_name in fields.items())


def label_schema() -> StructType:
    return struct_of(LABEL_FIELDS)
