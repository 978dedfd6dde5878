"""Path facts through Hadoop's FileSystem, so local paths, HDFS, S3 and ABFS behave alike."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def _hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    file_system = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return file_system, hadoop_path


def qualified(spark: SparkSession, path: str) -> str:
    """The fully qualified URI of ``path`` (scheme, authority, absolute path)."""
    file_system, hadoop_path = _hadoop_path(spark, path)
    return str(file_system.makeQualified(hadoop_path).toString()).rstrip("/")


def exists(spark: SparkSession, path: str) -> bool:
    file_system, hadoop_path = _hadoop_path(spark, path)
    return bool(file_system.exists(hadoop_path))


def is_empty_dir(spark: SparkSession, path: str) -> bool:
    file_system, hadoop_path = _hadoop_path(spark, path)
    return bool(file_system.getFileStatus(hadoop_path).isDirectory()) and not list(
        file_system.listStatus(hadoop_path)
    )


def size_bytes(spark: SparkSession, path: str) -> int:
    """Total bytes under ``path`` (a metadata call: no data is read)."""
    file_system, hadoop_path = _hadoop_path(spark, path)
    return int(file_system.getContentSummary(hadoop_path).getLength())


def overlaps(spark: SparkSession, first: str, second: str) -> bool:
    """True when one path equals or lies inside the other."""
    a, b = qualified(spark, first), qualified(spark, second)
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def delete(spark: SparkSession, path: str) -> None:
    """Remove ``path`` and everything under it."""
    file_system, hadoop_path = _hadoop_path(spark, path)
    file_system.delete(hadoop_path, True)


def write_bytes(spark: SparkSession, path: str, data: bytes) -> None:
    """Write a small file (a report) through Hadoop, replacing any file already there."""
    file_system, hadoop_path = _hadoop_path(spark, path)
    stream = file_system.create(hadoop_path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_text(spark: SparkSession, path: str) -> str:
    """Read a small text file (a report) through Hadoop."""
    file_system, hadoop_path = _hadoop_path(spark, path)
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    stream = file_system.open(hadoop_path)
    try:
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()
