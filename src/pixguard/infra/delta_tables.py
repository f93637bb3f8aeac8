"""Reading Delta tables that may not exist yet (a fresh storage root has none until the first write)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_if_exists(spark: SparkSession, path: str) -> DataFrame | None:
    from delta.tables import DeltaTable

    return spark.read.format("delta").load(path) if DeltaTable.isDeltaTable(spark, path) else None


def read_version(spark: SparkSession, path: str, version: int | None = None) -> tuple[DataFrame | None, int | None]:
    """The table as of `version` (the latest when None) and the version read; (None, None) when the
    table does not exist."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None, None
    if version is None:
        version = int(DeltaTable.forPath(spark, path).history(1).first()["version"])
    return spark.read.format("delta").option("versionAsOf", version).load(path), version
