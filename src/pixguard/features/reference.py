"""Features that need no state: the Brasília clock and the reference data (DICT key registry and
fraud marks), reduced to one lookup row per key or marked value and broadcast-joined to the payments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Brasília has had no daylight saving time since 2019; the zone id still handles older dates.
PIX_TIME_ZONE = "America/Sao_Paulo"
NIGHT_STARTS_HOUR = 20  # BCB night period for the Pix limit: 20:00 to 06:00
NIGHT_ENDS_HOUR = 6


def with_calendar_features(df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    local_hour = F.hour(F.from_utc_timestamp("event_time", PIX_TIME_ZONE))
    is_night = (local_hour >= NIGHT_STARTS_HOUR) | (local_hour < NIGHT_ENDS_HOUR)
    return df.withColumns({"local_hour": local_hour, "is_night": is_night})


@dataclass(frozen=True)
class ReferenceLookups:
    """The reference tables reduced to what a payment looks up: when each key was first registered,
    when each value (key, document or account) was first marked. None: the table does not exist.
    `versions`: the Delta version each was read at, by table name (None: the table did not exist)."""

    key_created_at: DataFrame | None  # _key, _key_created_at
    first_marks: DataFrame | None  # _marked, _marked_at
    versions: dict[str, int | None] = field(default_factory=dict)


def reference_lookups(key_registry: DataFrame | None, dict_marks: DataFrame | None) -> ReferenceLookups:
    from pyspark.sql import functions as F

    key_created_at = first_marks = None
    if key_registry is not None:
        key_created_at = key_registry.groupBy(F.col("key").alias("_key")).agg(
            F.min("created_at").alias("_key_created_at")
        )
    if dict_marks is not None:
        first_marks = dict_marks.groupBy(F.col("marked_value").alias("_marked")).agg(
            F.min("marked_at").alias("_marked_at")
        )
    return ReferenceLookups(key_created_at, first_marks)


def with_reference_features(df: DataFrame, lookups: ReferenceLookups) -> DataFrame:
    """Add `payee_key_age_days` (null when the key is unknown or there is no key),
    `payee_dict_marked` (the payee's key, document or account was marked before the payment) and
    `payer_dict_marked` (the payer's document or account was: since October 2025 a marked user may
    neither send nor receive Pix)."""
    from pyspark.sql import functions as F

    # Each DataFrame operation is analysed on the driver, on every micro-batch: the lookups are
    # joined under names of their own, and the flags added and the helper columns dropped once.
    added: dict[str, Column] = {}
    helpers: list[str] = []
    created = lookups.key_created_at
    if created is None:
        added["payee_key_age_days"] = F.lit(None).cast("double")
    else:
        # The registry holds every key in Brazil; a batch needs a few thousand of them. Broadcasting
        # only those is cheaper than broadcasting the registry each micro-batch (half the time at
        # 1.45 million keys), and keeps the broadcast small however large the registry grows.
        probed = df.select(F.col("payee_key").alias("_probed")).distinct()
        created = created.join(F.broadcast(probed), created["_key"] == probed["_probed"], "left_semi")
        df = df.join(F.broadcast(created), df["payee_key"] == created["_key"], "left")
        added["payee_key_age_days"] = F.round(
            (F.unix_millis("event_time") - F.unix_millis("_key_created_at")) / 86_400_000.0, 3
        )
        helpers += ["_key", "_key_created_at"]
    marks = lookups.first_marks
    marked_values = {
        "payee_dict_marked": [F.col("payee_key"), F.col("payee_document"), _account("payee")],
        "payer_dict_marked": [F.col("payer_document"), _account("payer")],
    }
    for flag, values in marked_values.items():
        if marks is None:
            added[flag] = F.lit(False)
        else:
            df, added[flag], joined = _joined_mark_flag(df, marks, flag, values)
            helpers += joined
    return df.withColumns(added).drop(*helpers)


def _account(side: str) -> Column:
    """How dict_marks names an account: ISPB:branch:account."""
    from pyspark.sql import functions as F

    return F.concat_ws(":", f"{side}_ispb", f"{side}_branch", f"{side}_account")


def _joined_mark_flag(
    df: DataFrame, marks: DataFrame, flag: str, values: list[Column]
) -> tuple[DataFrame, Column, list[str]]:
    """`df` joined with when each of `values` was first marked; the `flag` column (one of them was
    marked before the payment); and the joined helper columns, to drop."""
    from functools import reduce
    from operator import or_

    from pyspark.sql import functions as F

    helpers, before = [], []
    for index, value in enumerate(values):
        marked, marked_at = f"_{flag}_value{index}", f"_{flag}_at{index}"
        lookup = marks.select(F.col("_marked").alias(marked), F.col("_marked_at").alias(marked_at))
        df = df.join(F.broadcast(lookup), value == F.col(marked), "left")
        helpers += [marked, marked_at]
        before.append(F.coalesce(F.col(marked_at) <= F.col("event_time"), F.lit(False)))
    return df, reduce(or_, before), helpers
