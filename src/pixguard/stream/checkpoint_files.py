"""Files read and written inside a query's checkpoint: pixguard's own (the history pin, the batch
plans) and Spark's metadata. All go through Hadoop's FileSystem, as Spark's own checkpoint files do,
so they live wherever the checkpoint does: a local folder, HDFS or object storage."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _resolve(spark: SparkSession, path: str):  # noqa: ANN202 - (Hadoop Path, its FileSystem)
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())


def read_text(spark: SparkSession, path: str) -> str | None:
    """The file's text, None when there is no such file."""
    hadoop_path, fs = _resolve(spark, path)
    if not fs.exists(hadoop_path):
        return None
    stream = fs.open(hadoop_path)
    try:
        return spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str, overwrite: bool = True) -> None:
    """Without `overwrite`, a file already there raises (Hadoop's FileAlreadyExistsException)."""
    hadoop_path, fs = _resolve(spark, path)
    out = fs.create(hadoop_path, overwrite)
    try:
        out.write(bytearray(text.encode()))
    finally:
        out.close()


def delete(spark: SparkSession, path: str, recursive: bool = False) -> None:
    hadoop_path, fs = _resolve(spark, path)
    fs.delete(hadoop_path, recursive)
