"""The past a new hot path starts from: the payments and the DICT entries the archive holds.

A new hot path query (no checkpoint yet) seeds its keyed state from them (Spark's initial state,
read by its first micro-batch only), so it does not serve every payer as unknown nor forget DICT.
They are copied once, when the checkpoint is new, from Delta into Parquet files inside the checkpoint:
the hot path's plan then reads no Delta table (it runs where there is no Delta), and a first batch
replayed after a crash starts from the same past as its first attempt (not from an archive that has
meanwhile taken in that batch's own decisions). Once the first batch has committed, Spark no longer
reads the initial state: the query is given empty frames of the same shape, and the copy is removed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, TRANSACTION_FIELDS, ddl_of
from pixguard.features.behaviour import STATE_TTL_MS
from pixguard.infra.delta_tables import read_if_exists
from pixguard.infra.jvm import empty_frame
from pixguard.stream import checkpoint_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("pixguard.stream")

SEED_FOLDER = "pixguard_seed"  # inside the hot path's checkpoint
COMPLETE = "_complete"
PAST_PAYMENT_COLUMNS = [
    "end_to_end_id",
    "event_time",
    "amount_brl",
    "payer_document",
    "payee_document",
    "payer_device_id",
]


@dataclass(frozen=True)
class Seeds:
    """The three pasts, as DataFrames (empty once the query has committed a batch)."""

    payments: DataFrame
    key_registry: DataFrame
    dict_marks: DataFrame

    def initial_states(self, spark: SparkSession, hot_path: Any) -> tuple[Any, Any, Any]:
        """The operators' initial states (JVM DataFrames): payers, DICT values, payees."""
        payments = self.payments._jdf
        return (
            hot_path.payerHistory(payments),
            hot_path.dictEntries(self.key_registry._jdf, self.dict_marks._jdf),
            hot_path.payeeHistory(payments),
        )


def _empty(spark: SparkSession, fields: dict[str, str], columns: list[str] | None = None) -> DataFrame:
    frame = empty_frame(spark, ddl_of(fields))
    return frame.select(*columns) if columns else frame


def hot_path_seeds(spark: SparkSession, bundle: Bundle, config: StreamingConfig, checkpoint: str) -> Seeds:
    """What the hot path on `checkpoint` starts from: the copy made when it was new (made now if it
    is new), or nothing once it has committed a batch."""
    folder = f"{checkpoint.rstrip('/')}/{SEED_FOLDER}"
    if checkpoint_files.has_files(spark, f"{checkpoint.rstrip('/')}/commits"):
        checkpoint_files.delete(spark, folder, recursive=True)
        return Seeds(
            _empty(spark, TRANSACTION_FIELDS, PAST_PAYMENT_COLUMNS),
            _empty(spark, KEY_REGISTRY_FIELDS),
            _empty(spark, DICT_MARK_FIELDS),
        )
    if checkpoint_files.read_text(spark, f"{folder}/{COMPLETE}") is None:
        _copy_the_past(spark, bundle, config, folder)
    return Seeds(
        spark.read.parquet(f"{folder}/payments"),
        spark.read.parquet(f"{folder}/key_registry"),
        spark.read.parquet(f"{folder}/dict_marks"),
    )


def _copy_the_past(spark: SparkSession, bundle: Bundle, config: StreamingConfig, folder: str) -> None:
    from pyspark.sql import functions as F

    tables = config.tables
    decisions = read_if_exists(spark, bundle.target.table_path(tables.decisions))
    reach = F.timestamp_millis(F.unix_millis(F.current_timestamp()) - STATE_TTL_MS)
    payments = (
        _empty(spark, TRANSACTION_FIELDS, PAST_PAYMENT_COLUMNS)
        if decisions is None
        else decisions.where(F.col("event_time") >= reach).select(*PAST_PAYMENT_COLUMNS)
    )
    registry, marks = _dict_tables(spark, bundle, config)
    parts = {"payments": payments, "key_registry": registry, "dict_marks": marks}
    for name, frame in parts.items():
        frame.write.mode("overwrite").parquet(f"{folder}/{name}")
    checkpoint_files.write_text(spark, f"{folder}/{COMPLETE}", "")
    log.info("the new hot path starts from the archive's past, copied to %s", folder)


def _dict_tables(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> tuple[DataFrame, DataFrame]:
    registry = read_if_exists(spark, bundle.target.table_path(config.tables.key_registry))
    marks = read_if_exists(spark, bundle.target.table_path(config.tables.dict_marks))
    seeds = dict_only_seeds(spark, registry, marks)
    return seeds.key_registry, seeds.dict_marks


def dict_seeds(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> Seeds:
    """The DICT entries the archive holds and no past payments: what a backfill decides its history
    with (the history brings its own payments; each entry's time keeps the lookups point in time)."""
    return dict_only_seeds(spark, *_dict_tables(spark, bundle, config))


def dict_only_seeds(
    spark: SparkSession, key_registry: DataFrame | None = None, dict_marks: DataFrame | None = None
) -> Seeds:
    """DICT entries (rows of key_registry and dict_marks; none when not given) and no past payments."""
    return Seeds(
        _empty(spark, TRANSACTION_FIELDS, PAST_PAYMENT_COLUMNS),
        _empty(spark, KEY_REGISTRY_FIELDS) if key_registry is None else key_registry.select(*KEY_REGISTRY_FIELDS),
        _empty(spark, DICT_MARK_FIELDS) if dict_marks is None else dict_marks.select(*DICT_MARK_FIELDS),
    )
