"""The Brasília clock of a payment: the hour and whether it falls in the BCB night period."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Brasília has had no daylight saving time since 2019; the zone id still handles older dates.
PIX_TIME_ZONE = "America/Sao_Paulo"
NIGHT_STARTS_HOUR = 20  # BCB night period for the Pix limit: 20:00 to 06:00
NIGHT_ENDS_HOUR = 6


def with_calendar_features(df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    local_hour = F.hour(F.from_utc_timestamp("event_time", PIX_TIME_ZONE))
    is_night = (local_hour >= NIGHT_STARTS_HOUR) | (local_hour < NIGHT_ENDS_HOUR)
    return df.withColumns({"local_hour": local_hour, "is_night": is_night})
