"""The streaming plan of the features: payer state, then payee state, chained on event time.

The two keyed-state operators themselves run in the JVM (src/jvm/pixguard/features, built into
build/pixguard-features.jar by `make install`): in a Python worker every state call was a socket
round trip to the state server, and that capped the job below 1,000 tx/s (bench/RESULTS.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

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
EVENT_TIME_MS = "event_time_ms"
IS_DUPLICATE = "is_duplicate"
# A key's history is forgotten after this much event time without a payment.
STATE_TTL_MS = 90 * DAY_MS

JVM_OPERATORS = "pixguard.features.BehaviourFeatures"


def with_behaviour_features(
    transactions: DataFrame, watermark_delay_s: int, history: DataFrame | None = None
) -> DataFrame:
    """Valid transactions -> the same rows with payer and payee features and an `is_duplicate` flag.

    `history` (payments decided before, with the transaction fields) seeds the state of the query's
    first micro-batch only: a new query then serves every payer and payee with their past, while a
    query resuming from its checkpoint keeps the state it has (Spark ignores the initial state).

    The watermark only lets the two stateful operators be chained; it must be wider than the oldest
    event time validation accepts, so that no valid transaction is ever dropped as late."""
    from pyspark.sql import functions as F
    from pyspark.sql.classic.dataframe import DataFrame

    timed = transactions.withColumn(EVENT_TIME_MS, F.unix_millis("event_time")).withWatermark(
        "event_time", f"{watermark_delay_s} seconds"
    )
    past = None if history is None else history.withColumn(EVENT_TIME_MS, F.unix_millis("event_time"))._jdf
    operators = _jvm_operators(timed)
    with_payer = operators.withPayerFeatures(timed._jdf, "event_time", STATE_TTL_MS, past)
    return DataFrame(operators.withPayeeFeatures(with_payer, "event_time", STATE_TTL_MS, past), timed.sparkSession)


def _jvm_operators(df: DataFrame):  # noqa: ANN202
    from py4j.java_gateway import JavaClass

    operators = df.sparkSession._jvm
    for part in JVM_OPERATORS.split("."):
        operators = getattr(operators, part)
    if not isinstance(operators, JavaClass):
        raise RuntimeError(
            f"{JVM_OPERATORS} is not on the Spark classpath: build/pixguard-features.jar is missing "
            "from the session (`make install` builds it; pixguard.spark adds it to spark.jars)"
        )
    served = (list(operators.payerFeatureNames()), list(operators.payeeFeatureNames()))
    if served != (PAYER_FEATURES, PAYEE_FEATURES):
        raise RuntimeError(
            f"build/pixguard-features.jar serves features {served}, the Python side expects "
            f"{(PAYER_FEATURES, PAYEE_FEATURES)}: rebuild the jar with `make install`"
        )
    return operators
