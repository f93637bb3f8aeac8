"""The one place a SparkSession is built: from the bundle target and the job's own settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.config import Bundle
from pixguard.package_archive import build_package_archive

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

    settings = bundle.target.spark
    # Executors start the interpreter the driver names when its context starts (PYSPARK_PYTHON).
    # Locally that must be this one, with its packages, not whatever `python3` is first on PATH.
    if settings.is_local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif settings.executor_python:
        os.environ["PYSPARK_PYTHON"] = settings.executor_python
    conf = spark_conf(bundle, job_name)
    conf["spark.jars"] = ",".join(dict.fromkeys([*conf["spark.jars"].split(","), *_jars_from_spark_submit()]))
    builder = SparkSession.builder.appName(app_name or f"{bundle.name}-{job_name}")
    builder = builder.master(settings.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not settings.is_local:
        spark.sparkContext.addPyFile(str(build_package_archive(bundle.state_dir / "artifacts")))
    return spark


def _jars_from_spark_submit() -> list[str]:
    """Under spark-submit the driver's JVM runs already, and spark-submit has put the jars it resolved
    from `spark.jars.packages` into its `spark.jars`. Setting `spark.jars` again from the session
    builder would replace them: harmless on a local master, whose executors share the driver's class
    path, but the executors of a cluster would then lack Delta and the Kafka connector."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # started by this process: its conf is the builder's
        return []
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # noqa: SLF001 - joins the JVM spark-submit started, as getOrCreate would
    return [jar for jar in SparkConf().get("spark.jars", "").split(",") if jar]
