"""The feature vector the model sees: the names, and the numeric columns built from a decision row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.features.enrich import PAYEE_FEATURES, PAYER_FEATURES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CONTEXT_FEATURES = [
    "amount_brl_value",
    "local_hour",
    "night",
    "payer_is_legal",
    "payee_is_legal",
    "initiated_by_qr",
    "payee_key_age_days",
    "payee_marked",
]
MODEL_FEATURES = [*CONTEXT_FEATURES, *PAYER_FEATURES, *PAYEE_FEATURES]


def with_model_features(df: DataFrame) -> DataFrame:
    """Numeric encodings of the context; behavioural features are numeric already."""
    from pyspark.sql import functions as F

    return df.withColumns(
        {
            "amount_brl_value": F.col("amount_brl").cast("double"),
            "night": F.col("is_night").cast("int"),
            "payer_is_legal": (F.col("payer_person_type") == "LEGAL").cast("int"),
            "payee_is_legal": (F.col("payee_person_type") == "LEGAL").cast("int"),
            "initiated_by_qr": F.col("initiation_type").startswith("QR").cast("int"),
            "payee_marked": F.col("payee_dict_marked").cast("int"),
        }
    )
