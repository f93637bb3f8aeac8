"""The one place a SparkSession is built: from the bundle target and the job's own settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.config import Bundle

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Always on, whatever the target: Delta tables, RocksDB state (required by transformWithState,
# and keeps large keyed state off the JVM heap), UTC so event times never shift with the host.
BASE_SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Python workers turn timestamps into naive local datetimes and back: pin their zone.
    "spark.executorEnv.TZ": "UTC",
}


# The project's JVM code (the keyed-state feature operators, src/jvm), built by `make install`.
FEATURES_JAR = Path("build/pixguard-features.jar")


def spark_conf(bundle: Bundle, job_name: str) -> dict[str, str]:
    """Everything a job's session is configured with, also what spark-submit is given as --conf."""
    conf = {**BASE_SPARK_CONF, **bundle.spark_conf_for(job_name)}
    jars = [j for j in conf.get("spark.jars", "").split(",") if j]
    conf["spark.jars"] = ",".join([str(features_jar(bundle)), *jars])
    return conf


def features_jar(bundle: Bundle) -> Path:
    jar = bundle.project_root / FEATURES_JAR
    if not jar.is_file():
        raise FileNotFoundError(f"{jar} is missing: `make install` builds it from src/jvm")
    return jar


def build_spark_session(bundle: Bundle, job_name: str, app_name: str | None = None) -> SparkSession:
    from pyspark.sql import SparkSession

    if bundle.target.spark.master.startswith("local"):
        # Python workers (the model's pandas UDF) must run this interpreter, with its packages,
        # not whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name or f"{bundle.name}-{job_name}")
    builder = builder.master(bundle.target.spark.master)
    for key, value in spark_conf(bundle, job_name).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
