"""The feature vector the model sees: its names, and each one as a Spark SQL expression over a
decision record, declared once. Training evaluates them on `decisions` rows (`with_model_features`);
the hot path compiles the same text in the JVM (pixguard.serving.SqlCompiler) and evaluates it on
each payment, so a model is served exactly the encodings it was trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.features.behaviour import PAYEE_FEATURES, PAYER_FEATURES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Numeric encodings of the payment's context; a null (e.g. no key age) reaches the model as NaN.
CONTEXT_FEATURES: dict[str, str] = {
    "amount_brl_value": "CAST(amount_brl AS DOUBLE)",
    "local_hour": "CAST(local_hour AS DOUBLE)",
    "night": "CAST(CAST(is_night AS INT) AS DOUBLE)",
    "payer_is_legal": "CAST(CAST(payer_person_type = 'LEGAL' AS INT) AS DOUBLE)",
    "payee_is_legal": "CAST(CAST(payee_person_type = 'LEGAL' AS INT) AS DOUBLE)",
    "initiated_by_qr": "CAST(CAST(startswith(initiation_type, 'QR') AS INT) AS DOUBLE)",
    "payee_key_age_days": "CAST(payee_key_age_days AS DOUBLE)",
    "payee_marked": "CAST(CAST(payee_dict_marked AS INT) AS DOUBLE)",
}
# Behavioural features are numeric already.
MODEL_INPUT_SQL: dict[str, str] = {
    **CONTEXT_FEATURES,
    **{name: f"CAST({name} AS DOUBLE)" for name in [*PAYER_FEATURES, *PAYEE_FEATURES]},
}
MODEL_FEATURES = list(MODEL_INPUT_SQL)


def with_model_features(df: DataFrame) -> DataFrame:
    """The encodings added under their names; a feature that is a decision column already (the
    behavioural ones, the hour, the key age) is left as it is, and read as a double."""
    from pyspark.sql import functions as F

    return df.withColumns(
        {name: F.expr(sql) for name, sql in CONTEXT_FEATURES.items() if sql != f"CAST({name} AS DOUBLE)"}
    )
