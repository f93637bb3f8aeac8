"""The streaming plan of the features: payer state, then payee state, chained on event time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.features.history import PAYEE_FEATURES, PAYER_FEATURES
from pixguard.features.processors import EVENT_TIME_MS, PayeeFeatures, PayerFeatures, with_feature_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FEATURE_COLUMNS = [*PAYER_FEATURES, *PAYEE_FEATURES]


def with_behaviour_features(transactions: DataFrame, watermark_delay_s: int) -> DataFrame:
    """Valid transactions -> the same rows with payer and payee features and an `is_duplicate` flag.

    The watermark only lets the two stateful operators be chained; it must be wider than the oldest
    event time validation accepts, so that no valid transaction is ever dropped as late."""
    from pyspark.sql import functions as F

    timed = transactions.withColumn(EVENT_TIME_MS, F.unix_millis("event_time")).withWatermark(
        "event_time", f"{watermark_delay_s} seconds"
    )
    payer_schema = with_feature_columns(timed.schema, PAYER_FEATURES, duplicate_flag=True)
    with_payer = timed.groupBy("payer_document").transformWithState(
        PayerFeatures(), payer_schema, "Append", "EventTime", eventTimeColumnName="event_time"
    )
    payee_schema = with_feature_columns(payer_schema, PAYEE_FEATURES)
    return with_payer.groupBy("payee_document").transformWithState(
        PayeeFeatures(), payee_schema, "Append", "EventTime", eventTimeColumnName="event_time"
    )
