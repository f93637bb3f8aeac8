"""Keyed-state operators (Spark 4 `transformWithState`, RocksDB store) that serve the features.

Each processor keeps one compact history record per key (see history.py). Every state call is a
round trip between the Python worker and the JVM's state server, and that round trip is what a
micro-batch spends most of its time on (bench/RESULTS.md), so a key costs one read and one write per
micro-batch, plus one timer registration when the key is new. Rows of a key are handled in event-time
order, so a transaction's features include the earlier transactions of its own micro-batch.

Histories of keys that go quiet expire through an event-time timer (processing-time TTL would keep
an availableNow query running no-data batches forever). The timer is set once, STATE_TTL_MS after the
key's first transaction, and not moved on every payment: when it fires, a key that was active since
is given a new timer STATE_TTL_MS after its latest transaction, and only a key quiet for STATE_TTL_MS
is cleared."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from pyspark.sql import Row
from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from pixguard.features.history import DAY_MS, PAYEE_FEATURES, PAYER_FEATURES, PayeeHistory, PayerHistory

STATE_TTL_MS = 90 * DAY_MS
EVENT_TIME_MS = "event_time_ms"
IS_DUPLICATE = "is_duplicate"

_INT_FEATURES = {
    "payer_history_tx_count",
    "payer_first_payment_to_payee",
    "payer_new_device",
    "payer_distinct_payees_24h",
    "payee_distinct_payers_1h",
}


def _feature_type(name: str):  # noqa: ANN202
    return LongType() if name in _INT_FEATURES or "_count_" in name else DoubleType()


def _state_schema(history_type: type) -> StructType:
    kinds = {
        "list[int]": ArrayType(LongType()),
        "list[float]": ArrayType(DoubleType()),
        "list[str]": ArrayType(StringType()),
    }
    kinds |= {"int": LongType(), "float": DoubleType(), "int | None": LongType()}
    return StructType([StructField(f.name, kinds[str(f.type)]) for f in fields(history_type)])


PAYER_STATE_SCHEMA = _state_schema(PayerHistory)
PAYEE_STATE_SCHEMA = _state_schema(PayeeHistory)


def with_feature_columns(schema: StructType, names: list[str], duplicate_flag: bool = False) -> StructType:
    out = StructType(list(schema.fields))
    for name in names:
        out = out.add(name, _feature_type(name), nullable=True)
    return out.add(IS_DUPLICATE, BooleanType(), nullable=False) if duplicate_flag else out


def _ordered(rows: Iterator[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r[EVENT_TIME_MS], r["end_to_end_id"]))


class _ExpiringHistory(StatefulProcessor):
    """One history record per key, cleared when the key has been quiet for STATE_TTL_MS of event time."""

    state_name: str
    state_schema: StructType
    history_type: type

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.handle = handle
        self.history = handle.getValueState(self.state_name, self.state_schema)

    def _load(self) -> Any:
        """The key's history, or None for a key never seen (one state call: no `exists` first)."""
        stored = self.history.get()
        return None if stored is None else self.history_type(*stored)

    def _save(self, history: Any, new_key: bool) -> None:
        self.history.update(tuple(asdict(history).values()))
        if new_key:
            self.handle.registerTimer(history.latest_ms() + STATE_TTL_MS)

    def handleExpiredTimer(self, key: Any, timerValues: Any, expiredTimerInfo: Any) -> Iterator[Row]:  # noqa: N802, N803
        history = self._load()
        latest_ms = history.latest_ms() if history is not None else None
        if latest_ms is not None and latest_ms + STATE_TTL_MS > expiredTimerInfo.getExpiryTimeInMs():
            self.handle.registerTimer(latest_ms + STATE_TTL_MS)  # active since the timer was set
        else:
            self.history.clear()
        return iter(())

    def close(self) -> None:
        pass


class PayerFeatures(_ExpiringHistory):
    """Keyed by payer document: velocity, amounts against the payer's own history, new payee and
    device, and duplicate detection on end_to_end_id (a repeat is flagged, never silently dropped)."""

    state_name, state_schema, history_type = "payer_history", PAYER_STATE_SCHEMA, PayerHistory

    def handleInputRows(self, key: Any, rows: Iterator[Row], timerValues: Any) -> Iterator[Row]:  # noqa: N802, N803
        stored = self._load()
        history = stored if stored is not None else PayerHistory()
        latest_ms = history.last_ts or 0
        for row in _ordered(rows):
            values = row.asDict()
            ts_ms = row[EVENT_TIME_MS]
            if history.is_duplicate(row["end_to_end_id"]):
                yield Row(**values, **dict.fromkeys(PAYER_FEATURES), **{IS_DUPLICATE: True})
                continue
            amount, payee, device = float(row["amount_brl"]), row["payee_document"], row["payer_device_id"]
            features = history.features_for(ts_ms, amount, payee, device)
            history.record(row["end_to_end_id"], ts_ms, amount, payee, device)
            latest_ms = max(latest_ms, ts_ms)
            yield Row(**values, **features, **{IS_DUPLICATE: False})
        history.prune(latest_ms)
        self._save(history, new_key=stored is None)


class PayeeFeatures(_ExpiringHistory):
    """Keyed by payee document: inbound velocity and distinct payers (mule fan-in)."""

    state_name, state_schema, history_type = "payee_history", PAYEE_STATE_SCHEMA, PayeeHistory

    def handleInputRows(self, key: Any, rows: Iterator[Row], timerValues: Any) -> Iterator[Row]:  # noqa: N802, N803
        stored = self._load()
        history = stored if stored is not None else PayeeHistory()
        latest_ms = history.latest_ms() or 0
        for row in _ordered(rows):
            values = row.asDict()
            if row[IS_DUPLICATE]:
                yield Row(**values, **dict.fromkeys(PAYEE_FEATURES))
                continue
            ts_ms = row[EVENT_TIME_MS]
            features = history.features_for(ts_ms)
            history.record(ts_ms, float(row["amount_brl"]), row["payer_document"])
            latest_ms = max(latest_ms, ts_ms)
            yield Row(**values, **features)
        history.prune(latest_ms)
        self._save(history, new_key=stored is None)
