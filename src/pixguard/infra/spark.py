"""The one place a SparkSession is built: from the bundle target and the job's own settings."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.config import Bundle
from pixguard.infra.package_archive import build_package_archive

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HUGE_METHODS_COMPILED = "-XX:-DontCompileHugeMethods"

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
    # HotSpot never compiles a method of more than 8,000 bytes of bytecode, and Spark's generated code
    # for the contract's checks has such methods: they ran interpreted (the CPF/CNPJ check alone 3x
    # slower, bench/RESULTS.md). A job's spark_conf that sets these options replaces this one.
    "spark.driver.extraJavaOptions": HUGE_METHODS_COMPILED,
    "spark.executor.extraJavaOptions": HUGE_METHODS_COMPILED,
}


# The project's JVM code (the keyed-state feature operators, src/jvm), built by `make install`.
FEATURES_JAR = Path("build/pixguard-features.jar")


# What Spark's own package resolution leaves out, as pyspark ships it (SparkSubmitUtils' default
# exclusions): a second scala-library or spark-tags of another version on the class path breaks it.
SPARK_PROVIDED = [
    ("org.scala-lang", "scala-library"),
    *(
        ("org.apache.spark", f"spark-{module}_2.13")
        for module in (
            "catalyst", "core", "graphx", "kvstore", "launcher", "mllib", "mllib-local", "network-common",
            "network-shuffle", "repl", "sketch", "sql", "streaming", "tags", "unsafe",
        )
    ),
]  # fmt: skip


def spark_conf(bundle: Bundle, job_name: str) -> dict[str, str]:
    """Everything a job's session is configured with, also what spark-submit is given as --conf.

    The bundle's `spark.jars.packages` become files on `spark.jars`, resolved from Maven Central once
    (`make install` runs `pixguard bundle jars`) into the cache: no session start resolves anything, and
    the executors of a cluster get the same files as the driver."""
    conf = {**BASE_SPARK_CONF, **bundle.spark_conf_for(job_name)}
    packages = [str(jar) for jar in package_jars(bundle, conf.pop("spark.jars.packages", ""))]
    jars = [j for j in conf.get("spark.jars", "").split(",") if j]
    conf["spark.jars"] = ",".join([str(features_jar(bundle)), *packages, *jars])
    return conf


def package_jars(bundle: Bundle, coordinates: str) -> list[Path]:
    """The jars of `coordinates` (spark.jars.packages' format) and their runtime dependencies."""
    from pixguard.stack.jars import parse_coordinates, resolve_jars

    if not coordinates.strip():
        return []
    folder = hashlib.sha256(",".join(sorted(coordinates.split(","))).encode()).hexdigest()[:16]
    return resolve_jars(
        parse_coordinates(coordinates),
        bundle.cache_dir / "jars" / f"spark-{folder}",
        bundle.cache_dir / "ivy" / "cache",
        excludes=SPARK_PROVIDED,
    )


def features_jar(bundle: Bundle) -> Path:
    jar = bundle.project_root / FEATURES_JAR
    if not jar.is_file():
        raise FileNotFoundError(f"{jar} is missing: `make install` builds it from src/jvm")
    return jar


def executor_python(bundle: Bundle, job_name: str) -> str | None:
    """The interpreter a cluster's executors start for this job: the target's `executor_python`,
    unless the target's or the job's Spark conf sets `spark.pyspark.python`, which wins, as in Spark."""
    if "spark.pyspark.python" in bundle.spark_conf_for(job_name):
        return None
    return bundle.target.spark.executor_python


def build_spark_session(bundle: Bundle, job_name: str, app_name: str | None = None) -> SparkSession:
    from pyspark.sql import SparkSession

    settings = bundle.target.spark
    conf = spark_conf(bundle, job_name)
    # Executors start the interpreter the driver names when its context starts (PYSPARK_PYTHON).
    # Locally that must be this one, with its packages, not whatever `python3` is first on PATH.
    if settings.is_local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif interpreter := executor_python(bundle, job_name):
        os.environ["PYSPARK_PYTHON"] = interpreter
    builder = SparkSession.builder.appName(app_name or f"{bundle.name}-{job_name}")
    builder = builder.master(settings.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not settings.is_local:
        spark.sparkContext.addPyFile(str(build_package_archive(bundle.state_dir / "artifacts")))
    return spark
