"""Parse Kafka records into typed transactions and say, per record, why it is quarantined (if it is).

Pure DataFrame -> DataFrame functions; the clock is an argument so results are exact in tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pixguard.domain.contract import ColumnCheck
from pixguard.domain.schema import CORRUPT_RECORD, TRANSACTION_FIELDS, raw_json_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

QUARANTINE_REASONS = "quarantine_reasons"
KAFKA_COORDINATES = ["kafka_key", "topic", "partition", "offset", "kafka_timestamp"]
_RAW = "raw_"
_TYPED_FIELDS = {name: kind for name, kind in TRANSACTION_FIELDS.items() if kind != "string"}


@dataclass(frozen=True)
class EventTimeBounds:
    """How far an event time may lie from the processing clock before the record is refused."""

    max_event_age_s: int
    max_clock_skew_s: int


def _typed(name: str, kind: str) -> Column:
    from pyspark.sql import functions as F

    raw = F.col(f"{_RAW}{name}")
    if kind == "timestamp":
        return F.try_to_timestamp(raw)
    return raw.try_cast(kind)


def parse_transactions(raw_records: DataFrame) -> DataFrame:
    """Kafka records (value bytes and coordinates) -> one typed column per contract field, the raw
    text of each field (`raw_*`), and the unparseable text if the JSON was malformed."""
    from pyspark.sql import functions as F

    text = F.col("value").cast("string")
    parsed = raw_records.select(
        F.col("key").cast("string").alias("kafka_key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.from_json(text, raw_json_schema(), {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}).alias(
            "json"
        ),
    )
    raw_fields = [F.col(f"json.{name}").alias(f"{_RAW}{name}") for name in TRANSACTION_FIELDS]
    parsed = parsed.select(
        *KAFKA_COORDINATES, "value", *raw_fields, F.col(f"json.{CORRUPT_RECORD}").alias(CORRUPT_RECORD)
    )
    typed = [
        (_typed(name, kind) if name in _TYPED_FIELDS else F.col(f"{_RAW}{name}")).alias(name)
        for name, kind in TRANSACTION_FIELDS.items()
    ]
    return parsed.select("*", *typed)


def _check_violation(check: ColumnCheck) -> Column:
    from pyspark.sql import functions as F

    # A typed field that is present but unparseable is reported as wrong_type, not also as missing.
    if check.expectation == "expect_column_values_to_not_be_null" and check.column in _TYPED_FIELDS:
        return F.col(f"{_RAW}{check.column}").isNull()
    return check.violation()


def _not_of_its_type(name: str, kind: str) -> Column:
    """Present, and not a value of the field's type. A decimal with more places than the type has
    (R$ 12.345, or 0.005 for amount_brl's two) is not one: the cast would round it, and the payment
    would be decided on an amount the message never carried."""
    from pyspark.sql import functions as F

    raw, typed = F.col(f"{_RAW}{name}"), F.col(name)
    unparsed = raw.isNotNull() & typed.isNull()
    if kind.startswith("decimal"):
        return unparsed | (raw.try_cast("decimal(38,18)") != typed)
    return unparsed


def with_quarantine_reasons(
    parsed: DataFrame, checks: list[ColumnCheck], bounds: EventTimeBounds, now: datetime | Column
) -> DataFrame:
    """Add `quarantine_reasons`: empty for a valid transaction, else every reason it fails, most
    fundamental first (an empty or malformed message gets that reason alone)."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    def reason_if(condition: Column, reason: str) -> Column:
        return F.when(condition, F.lit(reason))

    wrong_types = [
        reason_if(_not_of_its_type(name, kind), f"wrong_type_{name}") for name, kind in _TYPED_FIELDS.items()
    ]
    contract = [reason_if(_check_violation(check), check.reason) for check in checks]
    # In a stream, `now` is current_timestamp(): Spark fixes it per micro-batch.
    now_lit = (now if isinstance(now, Column) else F.lit(now)).cast("timestamp")
    timing = [
        reason_if(
            F.col("event_time") > now_lit + F.expr(f"INTERVAL {bounds.max_clock_skew_s} SECONDS"),
            "event_time_in_future",
        ),
        reason_if(
            F.col("event_time") < now_lit - F.expr(f"INTERVAL {bounds.max_event_age_s} SECONDS"), "event_time_too_old"
        ),
    ]
    # array_except drops the nulls (the checks that passed) and repeats, keeping the order; unlike a
    # filter with a lambda it is compiled to Java, which matters for every record of the stream.
    field_reasons = F.array_except(F.array(*wrong_types, *contract, *timing), F.array(F.lit(None).cast("string")))
    reasons = (
        F.when(F.col("value").isNull() | (F.length("value") == 0), F.array(F.lit("empty_message")))
        .when(F.col(CORRUPT_RECORD).isNotNull(), F.array(F.lit("malformed_json")))
        .otherwise(field_reasons)
    )
    return parsed.withColumn(QUARANTINE_REASONS, reasons)


def quarantine_reason_codes(checks: list[ColumnCheck]) -> list[str]:
    """Every reason a record can be quarantined for, most fundamental first: what the monitoring counts."""
    reasons = ["empty_message", "malformed_json", *(f"wrong_type_{name}" for name in _TYPED_FIELDS)]
    reasons += [check.reason for check in checks]
    reasons += ["event_time_in_future", "event_time_too_old", "duplicate_end_to_end_id"]
    return list(dict.fromkeys(reasons))


def first_refusal(records: DataFrame, checks: list[ColumnCheck], bounds: EventTimeBounds) -> str | None:
    """Kafka-shaped records whose `offset` is the data row's index, each judged at its `timestamp`
    (null: now) -> the first one the stream would quarantine, described by row and column, or None."""
    from pyspark.sql import functions as F

    checked = with_quarantine_reasons(
        parse_transactions(records), checks, bounds, now=F.coalesce(F.col("kafka_timestamp"), F.current_timestamp())
    )
    bad = checked.where(F.size(QUARANTINE_REASONS) > 0).select("offset", QUARANTINE_REASONS)
    first = bad.orderBy("offset").first()
    if first is None:
        return None
    total = bad.count()
    problems = "; ".join(f"{_column_of(reason)}: {reason}" for reason in first[QUARANTINE_REASONS])
    return f"data row {first.offset + 1} is refused ({problems}); {total} refused row(s) in all"


def _column_of(reason: str) -> str:
    """Reason codes end with the field they concern (missing_amount_brl, wrong_type_event_time...)."""
    fields = sorted(TRANSACTION_FIELDS, key=len, reverse=True)
    column = next((name for name in fields if reason.endswith(name)), None)
    if column is None and reason.startswith("event_time"):
        column = "event_time"
    if column is None and reason.startswith("amount"):
        column = "amount_brl"
    return f"column {column}" if column else "record"
