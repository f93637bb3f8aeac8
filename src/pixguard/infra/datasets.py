"""A user's dataset file (Parquet, CSV or JSON Lines) read into pandas, as replay and backtest take it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pixguard.domain.schema import TRANSACTION_FIELDS

FORMATS = (".parquet", ".csv", ".jsonl", ".json", ".ndjson")
TRUE_FLAGS = ("true", "1", "1.0", "yes")  # how `is_fraud` may say so, in any of the formats


class DatasetError(ValueError):
    """A file that cannot be used: its path, the offending row or column, and that nothing was written."""


def read_dataset(
    path: Path, fields: dict[str, str] = TRANSACTION_FIELDS, what: str = "the message schema"
) -> pd.DataFrame:
    """The file's rows, every column as it was stored (CSV as text); refused when a field is missing."""
    suffix = "".join(path.suffixes[-1:]).lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        elif suffix in (".jsonl", ".json", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        else:
            raise DatasetError(f"{path}: unknown format {suffix!r} (use .parquet, .csv or .jsonl)")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    missing = [name for name in fields if name not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} (see {what} in README.md)")
    return frame


def message_values(frame: pd.DataFrame, fields: dict[str, str] = TRANSACTION_FIELDS) -> pd.DataFrame:
    """The fields as the values of a JSON message: times as ISO-8601 UTC text, missing values None,
    the rest as stored (a real JSON encoder then takes any character a user's value may hold)."""
    values = frame[list(fields)].copy()
    for name, kind in fields.items():
        if kind == "timestamp" and pd.api.types.is_datetime64_any_dtype(values[name]):
            times = pd.DatetimeIndex(values[name])
            utc = times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times
            text = np.char.add(np.datetime_as_string(utc.to_numpy().astype("datetime64[ms]")), "Z")
            values[name] = pd.Series(text, index=values.index).where(~times.isna(), None)
    return values.astype(object).where(values.notna(), None)


def message_text(frame: pd.DataFrame, fields: dict[str, str] = TRANSACTION_FIELDS) -> pd.DataFrame:
    """`message_values` as text (None where missing): how Spark reads a JSON message, every field as text."""
    values = message_values(frame, fields)
    return values.astype(str).where(values.notna(), None)


def fraud_flags(frame: pd.DataFrame) -> np.ndarray:
    """The optional `is_fraud` column as booleans (all false without it)."""
    if "is_fraud" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["is_fraud"].astype(str).str.lower().isin(TRUE_FLAGS).to_numpy()


def reported_times(frame: pd.DataFrame) -> pd.Series:
    """The optional `reported_at` column as UTC times (NaT where missing or without the column)."""
    reported = frame["reported_at"] if "reported_at" in frame.columns else pd.Series(None, index=frame.index)
    return pd.to_datetime(reported, utc=True, errors="coerce", format="ISO8601")
