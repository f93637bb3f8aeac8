"""Point-in-time behavioural features, as plain Python over a compact per-key history.

A transaction's features describe history strictly before it: `features_for` reads the history,
then `record` adds the transaction. The Spark processors (features/processors.py) feed rows of one
key in event-time order, so earlier transactions of the same micro-batch count too.

The history is one small record per key (arrays, pruned by age and capped), so the state store is
touched twice per key and micro-batch (one get, one update) instead of once per row and feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

PAYER_WINDOWS_MS = {"10m": 10 * MINUTE_MS, "1h": HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS}
PAYEE_WINDOWS_MS = {"10m": 10 * MINUTE_MS, "1h": HOUR_MS}
DUPLICATE_HORIZON_MS = DAY_MS

MAX_RECENT_EVENTS = 2_000
MAX_KNOWN_PAYEES = 500
MAX_KNOWN_DEVICES = 20
MAX_SEEN_IDS = 5_000

PAYER_FEATURES = [
    *(f"payer_tx_count_{w}" for w in PAYER_WINDOWS_MS),
    *(f"payer_amount_sum_{w}" for w in PAYER_WINDOWS_MS),
    "payer_distinct_payees_24h",
    "payer_history_tx_count",
    "payer_amount_ratio_to_mean",
    "payer_amount_zscore",
    "payer_first_payment_to_payee",
    "payer_new_device",
    "payer_seconds_since_previous_tx",
]
PAYEE_FEATURES = [
    *(f"payee_inbound_count_{w}" for w in PAYEE_WINDOWS_MS),
    "payee_inbound_amount_1h",
    "payee_distinct_payers_1h",
]


def _cap(values: list, limit: int) -> list:
    return values[-limit:] if len(values) > limit else values


@dataclass
class PayerHistory:
    recent_ts: list[int] = field(default_factory=list)
    recent_amount: list[float] = field(default_factory=list)
    recent_payee: list[str] = field(default_factory=list)
    known_payees: list[str] = field(default_factory=list)
    known_devices: list[str] = field(default_factory=list)
    seen_ids: list[str] = field(default_factory=list)
    seen_ts: list[int] = field(default_factory=list)
    tx_count: int = 0
    amount_sum: float = 0.0
    amount_sum_sq: float = 0.0
    last_ts: int | None = None

    def latest_ms(self) -> int | None:
        return self.last_ts

    def is_duplicate(self, end_to_end_id: str) -> bool:
        return end_to_end_id in self.seen_ids

    def features_for(self, ts_ms: int, amount: float, payee: str, device: str) -> dict[str, float | int | None]:
        features: dict[str, float | int | None] = {}
        for name, width in PAYER_WINDOWS_MS.items():
            start = ts_ms - width
            in_window = [i for i, t in enumerate(self.recent_ts) if start <= t < ts_ms]
            features[f"payer_tx_count_{name}"] = len(in_window)
            features[f"payer_amount_sum_{name}"] = round(sum(self.recent_amount[i] for i in in_window), 2)
        day_start = ts_ms - DAY_MS
        features["payer_distinct_payees_24h"] = len(
            {p for t, p in zip(self.recent_ts, self.recent_payee, strict=True) if day_start <= t < ts_ms}
        )
        features["payer_history_tx_count"] = self.tx_count
        mean = self.amount_sum / self.tx_count if self.tx_count else None
        variance = self.amount_sum_sq / self.tx_count - mean**2 if mean is not None else None
        features["payer_amount_ratio_to_mean"] = round(amount / mean, 4) if mean else None
        features["payer_amount_zscore"] = (
            round((amount - mean) / math.sqrt(variance), 4) if variance is not None and variance > 1e-9 else None
        )
        features["payer_first_payment_to_payee"] = int(payee not in self.known_payees)
        features["payer_new_device"] = int(bool(self.tx_count) and device not in self.known_devices)
        features["payer_seconds_since_previous_tx"] = (
            round((ts_ms - self.last_ts) / 1000, 3) if self.last_ts is not None else None
        )
        return features

    def record(self, end_to_end_id: str, ts_ms: int, amount: float, payee: str, device: str) -> None:
        self.recent_ts.append(ts_ms)
        self.recent_amount.append(amount)
        self.recent_payee.append(payee)
        if payee in self.known_payees:
            self.known_payees.remove(payee)
        self.known_payees.append(payee)
        if device not in self.known_devices:
            self.known_devices.append(device)
        self.seen_ids.append(end_to_end_id)
        self.seen_ts.append(ts_ms)
        self.tx_count += 1
        self.amount_sum += amount
        self.amount_sum_sq += amount * amount
        self.last_ts = ts_ms if self.last_ts is None else max(self.last_ts, ts_ms)

    def prune(self, now_ms: int) -> None:
        """Forget what no window can reach any more, and cap what a very active key keeps."""
        keep = [i for i, t in enumerate(self.recent_ts) if t >= now_ms - PAYER_WINDOWS_MS["7d"]]
        keep = _cap(keep, MAX_RECENT_EVENTS)
        self.recent_ts = [self.recent_ts[i] for i in keep]
        self.recent_amount = [self.recent_amount[i] for i in keep]
        self.recent_payee = [self.recent_payee[i] for i in keep]
        seen = _cap([i for i, t in enumerate(self.seen_ts) if t >= now_ms - DUPLICATE_HORIZON_MS], MAX_SEEN_IDS)
        self.seen_ids = [self.seen_ids[i] for i in seen]
        self.seen_ts = [self.seen_ts[i] for i in seen]
        self.known_payees = _cap(self.known_payees, MAX_KNOWN_PAYEES)
        self.known_devices = _cap(self.known_devices, MAX_KNOWN_DEVICES)


@dataclass
class PayeeHistory:
    recent_ts: list[int] = field(default_factory=list)
    recent_amount: list[float] = field(default_factory=list)
    recent_payer: list[str] = field(default_factory=list)

    def latest_ms(self) -> int | None:
        return max(self.recent_ts, default=None)

    def features_for(self, ts_ms: int) -> dict[str, float | int | None]:
        features: dict[str, float | int | None] = {}
        for name, width in PAYEE_WINDOWS_MS.items():
            features[f"payee_inbound_count_{name}"] = sum(1 for t in self.recent_ts if ts_ms - width <= t < ts_ms)
        hour = [i for i, t in enumerate(self.recent_ts) if ts_ms - HOUR_MS <= t < ts_ms]
        features["payee_inbound_amount_1h"] = round(sum(self.recent_amount[i] for i in hour), 2)
        features["payee_distinct_payers_1h"] = len({self.recent_payer[i] for i in hour})
        return features

    def record(self, ts_ms: int, amount: float, payer: str) -> None:
        self.recent_ts.append(ts_ms)
        self.recent_amount.append(amount)
        self.recent_payer.append(payer)

    def prune(self, now_ms: int) -> None:
        keep = _cap([i for i, t in enumerate(self.recent_ts) if t >= now_ms - HOUR_MS], MAX_RECENT_EVENTS)
        self.recent_ts = [self.recent_ts[i] for i in keep]
        self.recent_amount = [self.recent_amount[i] for i in keep]
        self.recent_payer = [self.recent_payer[i] for i in keep]
