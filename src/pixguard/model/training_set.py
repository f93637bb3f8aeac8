"""The training set: Delta `decisions` (features exactly as served) joined with `fraud_labels`.

- Both tables are read at a recorded Delta version, so a run can be reproduced.
- Label delay: a MED report arrives days after the payment, so a recent transaction without a
  report is not yet known to be legitimate. Transactions after the maturity horizon
  (as-of time minus `label_maturity_days`) enter neither training nor evaluation.
- Time split, as fraud teams do: train | gap | test, the test window ending at the horizon. The gap
  keeps the payer and payee histories behind the test's features out of the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pixguard.domain.rules import RULE_HITS
from pixguard.features.model_input import MODEL_FEATURES, with_model_features
from pixguard.model.settings import TrainingSettings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from pixguard.config import Bundle, StreamingConfig

LABEL = "label"
SPLIT = "split"
RULES_BASELINE = "rules_baseline_score"  # rules alone: how many rules fired on the transaction
AMOUNT = "amount_brl_value"
AGE_DAYS = "age_days"  # days between the transaction and the run: the gate's freshness check reads it
TRAIN, GAP, TEST, IMMATURE, BEFORE = "train", "gap", "test", "immature", "before_train"
TRAINING_COLUMNS = ["end_to_end_id", "event_time", *MODEL_FEATURES, LABEL, RULES_BASELINE, SPLIT, AGE_DAYS]


@dataclass(frozen=True)
class SplitWindows:
    """Half-open windows on event_time: train [train_start, train_end), test [test_start, horizon)."""

    as_of: datetime
    horizon: datetime  # maturity horizon: nothing at or after it is used
    test_start: datetime
    train_end: datetime
    train_start: datetime | None

    def as_params(self) -> dict[str, str]:
        return {
            "as_of": self.as_of.isoformat(),
            "maturity_horizon": self.horizon.isoformat(),
            "test_start": self.test_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "train_start": self.train_start.isoformat() if self.train_start else "",
        }


def split_windows(as_of: datetime, settings: TrainingSettings) -> SplitWindows:
    horizon = as_of - timedelta(days=settings.label_maturity_days)
    test_start = horizon - timedelta(days=settings.test_days)
    train_end = test_start - timedelta(days=settings.gap_days)
    train_start = train_end - timedelta(days=settings.train_days) if settings.train_days else None
    return SplitWindows(as_of, horizon, test_start, train_end, train_start)


def split_of(event_time: datetime, windows: SplitWindows) -> str:
    """The same rule as `with_split`, for one timestamp."""
    if event_time >= windows.horizon:
        return IMMATURE
    if event_time >= windows.test_start:
        return TEST
    if event_time >= windows.train_end:
        return GAP
    if windows.train_start is not None and event_time < windows.train_start:
        return BEFORE
    return TRAIN


def with_split(df: DataFrame, windows: SplitWindows) -> DataFrame:
    from pyspark.sql import functions as F

    t = F.col("event_time")
    split = (
        F.when(t >= F.lit(windows.horizon), IMMATURE)
        .when(t >= F.lit(windows.test_start), TEST)
        .when(t >= F.lit(windows.train_end), GAP)
    )
    if windows.train_start is not None:
        split = split.when(t < F.lit(windows.train_start), BEFORE)
    return df.withColumn(SPLIT, split.otherwise(TRAIN))


def labelled(decisions: DataFrame, labels: DataFrame, as_of: datetime) -> DataFrame:
    """One row per decided transaction with the model's features, `label` (1: a fraud report was
    received by `as_of`) and the rules-only baseline score."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    known_at = label_known_at(labels)
    reported = (
        labels.where(known_at <= F.lit(as_of)).groupBy("end_to_end_id").agg(F.min(known_at).alias("first_reported_at"))
    )
    # A replayed batch could have left a repeat; the first decision is the one that was served.
    first = Window.partitionBy("end_to_end_id").orderBy("decided_at")
    once = decisions.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    return (
        with_model_features(once)
        .join(reported, "end_to_end_id", "left")
        .withColumn(LABEL, F.col("first_reported_at").isNotNull().cast("int"))
        .withColumn(RULES_BASELINE, F.coalesce(F.size(RULE_HITS), F.lit(0)).cast("double"))
    )


def training_frame(decisions: DataFrame, labels: DataFrame, windows: SplitWindows, run_at: datetime) -> DataFrame:
    """Labelled, split rows; only `train` and `test` rows are ever used."""
    from pyspark.sql import functions as F

    age = (F.unix_millis(F.lit(run_at).cast("timestamp")) - F.unix_millis("event_time")) / 86_400_000.0
    return (
        labelled(decisions, labels, windows.as_of)
        .transform(lambda df: with_split(df, windows))
        .withColumn(AGE_DAYS, age)
        .select(*[F.col(c).cast("double") if c in MODEL_FEATURES else F.col(c) for c in TRAINING_COLUMNS])
    )


def label_known_at(labels: DataFrame) -> Column:
    """When a fraud label became known: its `reported_at`, or when it was received (`received_at`,
    the stream's clock) if that is earlier. `reported_at` comes from the sender and can lie ahead (a
    replay shifts it, a clock is wrong); such a label is known from its arrival on."""
    from pyspark.sql import functions as F

    if "received_at" not in labels.columns:
        return F.col("reported_at")
    return F.least(F.col("reported_at"), F.coalesce(F.col("received_at"), F.col("reported_at")))


def default_as_of(decisions: DataFrame, labels: DataFrame) -> datetime:
    """The newest label known (label_known_at), else the newest transaction: what the labels are known up to."""
    from pyspark.sql import functions as F

    newest = labels.agg(F.max(label_known_at(labels))).first()[0]
    newest = newest or decisions.agg(F.max("event_time")).first()[0]
    if newest is None:
        raise ValueError("the decisions table is empty: nothing to train on")
    # PySpark hands back naive local-time datetimes; make it an unambiguous UTC instant.
    return newest.astimezone(UTC)


# ------------------------------------------------------------------ I/O: Delta at a recorded version


@dataclass(frozen=True)
class Snapshot:
    decisions: DataFrame
    labels: DataFrame
    decisions_version: int
    labels_version: int
    decisions_path: str
    labels_path: str

    def as_params(self) -> dict[str, str]:
        return {
            "decisions_delta_version": str(self.decisions_version),
            "fraud_labels_delta_version": str(self.labels_version),
            "decisions_path": self.decisions_path,
            "fraud_labels_path": self.labels_path,
        }


def _at_version(spark: SparkSession, path: str, version: int | None) -> tuple[DataFrame, int]:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        raise FileNotFoundError(f"no Delta table at {path}")
    if version is None:
        version = int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])
    return spark.read.format("delta").option("versionAsOf", version).load(path), version


def read_snapshot(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    versions: tuple[int, int] | None = None,
    tables: tuple[str, str] | None = None,
) -> Snapshot:
    """`decisions` and `fraud_labels` (or the `tables` given: a backtest's decisions and labels) at
    the given (decisions, labels) Delta versions, else the latest: a gate and the training after it
    must see the same rows while the stream keeps appending."""
    decisions_table, labels_table = tables or (config.tables.decisions, config.tables.fraud_labels)
    decisions_path = bundle.target.table_path(decisions_table)
    labels_path = bundle.target.table_path(labels_table)
    decisions_at, labels_at = versions or (None, None)
    decisions, decisions_version = _at_version(spark, decisions_path, decisions_at)
    labels, labels_version = _at_version(spark, labels_path, labels_at)
    return Snapshot(decisions, labels, decisions_version, labels_version, decisions_path, labels_path)
