"""The behavioural features a payment is served with: computed point in time by the hot path's
keyed-state operators in the JVM (src/jvm/pixguard/features/Histories.scala, whose names these are;
pixguard.stream.hot_path checks that the two agree when it builds the plan)."""

from __future__ import annotations

DAY_MS = 86_400_000
PAYER_WINDOWS = ["10m", "1h", "24h", "7d"]
PAYEE_WINDOWS = ["10m", "1h"]

PAYER_FEATURES = [
    *(f"payer_tx_count_{w}" for w in PAYER_WINDOWS),
    *(f"payer_amount_sum_{w}" for w in PAYER_WINDOWS),
    "payer_distinct_payees_24h",
    "payer_history_tx_count",
    "payer_amount_ratio_to_mean",
    "payer_amount_zscore",
    "payer_first_payment_to_payee",
    "payer_new_device",
    "payer_seconds_since_previous_tx",
]
PAYEE_FEATURES = [
    *(f"payee_inbound_count_{w}" for w in PAYEE_WINDOWS),
    "payee_inbound_amount_1h",
    "payee_distinct_payers_1h",
]
FEATURE_COLUMNS = [*PAYER_FEATURES, *PAYEE_FEATURES]
# A key's history is forgotten after this much event time without a payment.
STATE_TTL_MS = 90 * DAY_MS
