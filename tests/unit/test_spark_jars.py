"""The bundle's Spark packages reach Spark as files resolved once, never resolved at session start."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.config import load_bundle
from pixguard.infra.spark import spark_conf
from pixguard.stack.jars import parse_coordinates

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_bundle_packages_are_jar_files_on_spark_jars_without_what_pyspark_ships() -> None:
    conf = spark_conf(load_bundle(PROJECT_ROOT), "streaming")
    assert "spark.jars.packages" not in conf  # nothing left for a session start to resolve
    jars = [Path(jar) for jar in conf["spark.jars"].split(",")]
    names = [jar.name for jar in jars]
    assert names[0] == "pixguard-features.jar"
    assert {"spark-sql-kafka-0-10_2.13-4.2.0.jar", "delta-spark_4.2_2.13-4.4.0.jar", "kafka-clients-3.9.2.jar"} <= set(
        names
    )
    assert not [n for n in names if n.startswith(("scala-library", "spark-tags", "spark-core", "spark-sql_"))]
    assert all(jar.is_file() for jar in jars)


def test_a_malformed_coordinate_is_refused_with_its_text() -> None:
    assert [a.name for a in parse_coordinates("io.delta:delta-spark_4.2_2.13:4.4.0, a:b:1")] == [
        "delta-spark_4.2_2.13",
        "b",
    ]
    with pytest.raises(ValueError, match="'io.delta:delta-spark'"):
        parse_coordinates("io.delta:delta-spark")
