"""`pixguard backtest FILE`: a user's labelled payments decided in batch by the stream's own code.

The whole file is judged as replay judges it (the stream's parse and contract, and no
end_to_end_id twice): a refused file names its offending data row and column, and nothing is
written. Every payment is decided in one batch by the hot path's own operators
(pixguard.stream.batch: contract, point-in-time payer/payee features, the DICT entries given, the
rules file, the champion or a chosen model version). Written, under the user's name (never the live
tables): Delta `backtest_<name>` (one decision per payment, with the file's `is_fraud`,
`reported_at` and `fraud_type`, and its data row) and `backtest_<name>_labels` (its frauds as fraud
reports, the shape of `fraud_labels`, so a model can be trained from the backtest)."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.contract import load_transaction_checks
from pixguard.domain.schema import DICT_MARK_FIELDS, FRAUD_REPORT_TYPE, KEY_REGISTRY_FIELDS
from pixguard.infra.datasets import DatasetError, fraud_flags, message_text, read_dataset, reported_times
from pixguard.infra.spark_progress import SparkProgress
from pixguard.stream.batch import decide_in_batch, kafka_shaped
from pixguard.stream.hot_path import decision_record_schema
from pixguard.stream.seed import dict_only_seeds
from pixguard.stream.validate import EventTimeBounds, first_refusal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
DATA_ROW = "data_row"  # the payment's row in the file, from 1
LABEL_COLUMNS = ("is_fraud", "reported_at", "fraud_type")  # optional in the file; kept with each decision
REFUSED = "pixguard-backtest: a payment the contract refuses"


@dataclass(frozen=True)
class BacktestTables:
    decisions: str
    labels: str

    @classmethod
    def named(cls, name: str) -> BacktestTables:
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"backtest name {name!r}: use lower-case letters, digits and _, starting with a letter (at most 63)"
            )
        return cls(f"backtest_{name}", f"backtest_{name}_labels")


@dataclass(frozen=True)
class BacktestSummary:
    name: str
    payments: int
    frauds: int
    decisions_path: str
    model_version: str | None
    rules_version: str
    seconds: float
    phases: dict[str, float]  # seconds per step: read, check and decide (and write), labels

    def text(self) -> str:
        rate = self.payments / self.seconds if self.seconds else 0.0
        model = f"model version {self.model_version}" if self.model_version else "no model (rules alone)"
        return (
            f"backtest {self.name}: {self.payments} payments decided ({self.frauds} labelled frauds) in "
            f"{self.seconds:.1f} s ({rate:,.0f} tx/s) with rules {self.rules_version} and {model}; "
            f"decisions in {self.decisions_path}"
        )


def labelled_payments(path: Path) -> pd.DataFrame:
    """The file's payments as message text, its row number and labels (`is_fraud` false and the
    rest empty when the file has none). Refused when an end_to_end_id comes twice."""
    frame = read_dataset(path)
    ids = frame["end_to_end_id"].astype(str)
    repeated = ids.duplicated(keep="first").to_numpy()
    if repeated.any():
        row = int(repeated.argmax())
        first = int((ids == ids.iloc[row]).to_numpy().argmax())
        raise DatasetError(
            f"{path}: data row {row + 1} is refused (column end_to_end_id: the end_to_end_id of data row "
            f"{first + 1} again); {int(repeated.sum())} repeated row(s) in all; nothing was written"
        )
    text = message_text(frame)
    text.insert(0, DATA_ROW, range(1, len(frame) + 1))
    text["is_fraud"] = fraud_flags(frame)
    text["reported_at"] = reported_times(frame)
    fraud_type = frame["fraud_type"] if "fraud_type" in frame.columns else pd.Series(None, index=frame.index)
    text["fraud_type"] = fraud_type.astype(object).where(fraud_type.notna(), None)
    return text


def _dict_rows(spark: SparkSession, path: Path | None, fields: dict[str, str], what: str) -> DataFrame | None:
    """A DICT table file (key_registry or dict_marks columns), typed; a row without its key or time is refused."""
    from pyspark.sql import functions as F

    if path is None:
        return None
    text = message_text(read_dataset(path, fields, what), fields)
    text.insert(0, DATA_ROW, range(1, len(text) + 1))
    rows = spark.createDataFrame(text, ", ".join([f"{DATA_ROW} long", *(f"{name} string" for name in fields)]))
    typed = rows.select(
        DATA_ROW,
        *[
            (F.try_to_timestamp(name) if kind == "timestamp" else F.col(name)).alias(name)
            for name, kind in fields.items()
        ],
    )
    required = list(fields)[0], next(name for name, kind in fields.items() if kind == "timestamp")
    bad = typed.where(F.col(required[0]).isNull() | F.col(required[1]).isNull()).orderBy(DATA_ROW).first()
    if bad is not None:
        column = required[0] if bad[required[0]] is None else required[1]
        raise DatasetError(f"{path}: data row {bad[DATA_ROW]} is refused (column {column}: missing or not of its type)")
    return typed.drop(DATA_ROW)


def run_backtest(
    spark: SparkSession,
    bundle: Bundle,
    config: StreamingConfig,
    path: Path,
    name: str,
    model_version: str | None = None,
    dict_keys: Path | None = None,
    dict_marks: Path | None = None,
    progress: bool = True,
) -> BacktestSummary:
    from pyspark.sql import functions as F

    tables = BacktestTables.named(name)
    began = time.monotonic()
    phases: dict[str, float] = {}
    payments = labelled_payments(path)
    registry = _dict_rows(spark, dict_keys, KEY_REGISTRY_FIELDS, "the key_registry columns")
    marks = _dict_rows(spark, dict_marks, DICT_MARK_FIELDS, "the dict_marks columns")
    # Staged as Parquet: Spark reads it in parallel, and the file's row numbers travel with the rows.
    staging = bundle.state_dir / "backtest" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # Spark reads no nanosecond Parquet timestamps; reports are in milliseconds anyway.
    payments.to_parquet(
        staging / "payments.parquet", index=False, coerce_timestamps="ms", allow_truncated_timestamps=True
    )
    staged = spark.read.parquet(str(staging / "payments.parquet"))
    phases["read"] = time.monotonic() - began
    topic = f"backtest.{name}"
    records = kafka_shaped(staged, topic, offset=F.col(DATA_ROW) - 1)
    checks = load_transaction_checks(bundle.project_root)
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    batch = decide_in_batch(
        spark,
        bundle,
        config,
        records,
        topic,
        datetime.now(UTC),
        f"{tables.decisions}_serving",
        seeds=dict_only_seeds(spark, registry, marks),
        model_version=model_version,
    )
    decision_columns = [f.name for f in decision_record_schema(spark).fields]
    labels = staged.select("end_to_end_id", DATA_ROW, *LABEL_COLUMNS)
    decisions = every_one_decided(batch.outcomes, decision_columns).join(labels, "end_to_end_id", "left")
    decisions_path = bundle.target.table_path(tables.decisions)
    try:
        with SparkProgress(spark, f"deciding {len(payments):,} payments", enabled=progress):
            decisions.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(decisions_path)
    except Exception as error:
        if REFUSED not in str(error):
            raise
        # The file is read again only to describe its refused rows, as replay does.
        problem = first_refusal(records, checks, bounds)
        raise DatasetError(f"{path}: {problem or 'a row is refused'}; nothing was written") from None
    phases["check and decide"] = time.monotonic() - began - sum(phases.values())
    decided = _rows_written(spark, decisions_path)
    if decided != len(payments):
        raise RuntimeError(f"backtest {name}: {len(payments)} payments in, {decided} decided: the counts must agree")
    reports = staged.where("is_fraud").select(
        "end_to_end_id",
        F.coalesce("reported_at", F.try_to_timestamp("event_time")).alias("reported_at"),
        F.lit(FRAUD_REPORT_TYPE).alias("report_type"),
    )
    reports.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        bundle.target.table_path(tables.labels)
    )
    shutil.rmtree(staging, ignore_errors=True)
    phases["labels"] = time.monotonic() - began - sum(phases.values())
    return BacktestSummary(
        name,
        decided,
        int(payments["is_fraud"].sum()),
        decisions_path,
        batch.model_version,
        batch.rules_version,
        time.monotonic() - began,
        phases,
    )


def every_one_decided(outcomes: DataFrame, decision_columns: list[str]) -> DataFrame:
    """The outcomes as decision rows, each of them decided: a record the stream would quarantine fails
    the Spark job that evaluates it, so a refused file's decisions are never committed, and the file
    is parsed and checked once, by the decision itself."""
    from pyspark.sql import functions as F

    decided_id = F.when(F.col("outcome") == "decided", F.col("end_to_end_id")).otherwise(F.raise_error(F.lit(REFUSED)))
    return outcomes.select(
        *[decided_id.alias(name) if name == "end_to_end_id" else F.col(name) for name in decision_columns],
        "published_at",
    )


def _rows_written(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    last = DeltaTable.forPath(spark, path).history(1).first()
    return int(last.operationMetrics["numOutputRows"])


def backtest_frame(spark: SparkSession, bundle: Bundle, name: str) -> DataFrame:
    """The decisions of backtest `name`."""
    from delta.tables import DeltaTable

    path = bundle.target.table_path(BacktestTables.named(name).decisions)
    if not DeltaTable.isDeltaTable(spark, path):
        raise FileNotFoundError(f"no backtest named {name!r} (no Delta table at {path}); run `pixguard backtest`")
    return spark.read.format("delta").load(path)
