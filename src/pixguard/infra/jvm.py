"""The project's JVM code (src/jvm, built into build/pixguard-features.jar by `make install` and put on
every session's spark.jars), reached from Python through py4j."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def jvm_package(spark: SparkSession, name: str) -> Any:
    """The Scala object or class `name` (e.g. "pixguard.hotpath.HotPath"), checked to be on the classpath."""
    from py4j.java_gateway import JavaClass

    found: Any = spark._jvm
    for part in name.split("."):
        found = getattr(found, part)
    if not isinstance(found, JavaClass):
        raise RuntimeError(
            f"{name} is not on the Spark classpath: build/pixguard-features.jar is missing from the session "
            "(`make install` builds it; pixguard.infra.spark adds it to spark.jars)"
        )
    return found


def empty_frame(spark: SparkSession, ddl: str) -> Any:
    """An empty DataFrame of `ddl`'s columns as a local relation in the JVM: in a streaming plan it
    adds no Python (an empty `createDataFrame` from Python is a Python RDD, evaluated by a Python worker)."""
    from pyspark.sql.classic.dataframe import DataFrame
    from pyspark.sql.types import _parse_datatype_string

    schema = _parse_datatype_string(ddl)
    frame = jvm_package(spark, "pixguard.serving.RowPipeline").emptyFrame(spark._jsparkSession, schema.json())
    return DataFrame(frame, spark)
