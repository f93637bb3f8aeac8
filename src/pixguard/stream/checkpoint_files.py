"""Files read and written inside a query's checkpoint: pixguard's own (the hot path's seed copy)
and Spark's metadata. All go through Hadoop's FileSystem, as Spark's own checkpoint files do,
so they live wherever the checkpoint does: a local folder, HDFS or object storage."""

from __future__ import annotations

import uuid
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
    """Written beside, then renamed into place: a crash mid-write leaves no half file for a restart to
    read (a rename is atomic on a local disk and HDFS). Without `overwrite`, a file already there
    raises FileExistsError."""
    hadoop_path, fs = _resolve(spark, path)
    partial = spark._jvm.org.apache.hadoop.fs.Path(f"{path}.{uuid.uuid4().hex}.partial")
    out = fs.create(partial, False)
    try:
        out.write(bytearray(text.encode()))
    finally:
        out.close()
    if fs.exists(hadoop_path):
        if not overwrite:  # checked here: a local rename would replace the file
            fs.delete(partial, False)
            raise FileExistsError(path)
        fs.delete(hadoop_path, False)
    if not fs.rename(partial, hadoop_path):
        fs.delete(partial, False)
        raise OSError(f"could not write {path}")


def delete(spark: SparkSession, path: str, recursive: bool = False) -> None:
    hadoop_path, fs = _resolve(spark, path)
    fs.delete(hadoop_path, recursive)


def has_files(spark: SparkSession, folder: str) -> bool:
    """Whether the folder holds a file of its own (hidden ones, e.g. Hadoop's .crc, do not count)."""
    hadoop_path, fs = _resolve(spark, folder)
    if not fs.exists(hadoop_path):
        return False
    return any(
        status.isFile() and not status.getPath().getName().startswith(".") for status in fs.listStatus(hadoop_path)
    )
