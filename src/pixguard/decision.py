"""APPROVE / REVIEW / BLOCK from the rules and the score, with the reasons behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixguard.rules import RULE_ACTION, RULE_HITS
from pixguard.scoring import MODEL_REASONS, SCORE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DECISION = "decision"
REASONS = "reasons"


def decide(df: DataFrame, review_threshold: float, block_threshold: float) -> DataFrame:
    """A BLOCK rule or a score at the block threshold blocks; any rule or a score at the review
    threshold holds for review. Reasons: the rules that fired, then `MODEL:<feature>` for the
    features that pushed a reviewed or blocked score up the most."""
    from pyspark.sql import functions as F

    score = F.col(SCORE)
    decision = (
        F.when((F.col(RULE_ACTION) == "BLOCK") | (score >= block_threshold), F.lit("BLOCK"))
        .when((F.col(RULE_ACTION) == "REVIEW") | (score >= review_threshold), F.lit("REVIEW"))
        .otherwise(F.lit("APPROVE"))
    )
    model_reasons = F.when(
        score >= review_threshold,
        F.transform(
            F.coalesce(F.col(MODEL_REASONS), F.array().cast("array<string>")), lambda f: F.concat(F.lit("MODEL:"), f)
        ),
    ).otherwise(F.array().cast("array<string>"))
    return df.withColumns({DECISION: decision, REASONS: F.concat(F.col(RULE_HITS), model_reasons)})
