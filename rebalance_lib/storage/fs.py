"""Path facts through Hadoop's FileSystem, so local paths, HDFS, S3 and ABFS behave alike."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

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


def resolved(spark: SparkSession, path: str) -> str:
    """The qualified URI of ``path`` with relative parts and, on a local file system,
    symlinks resolved: two names of one folder give the same string."""
    uri = qualified(spark, path)
    location = urlparse(uri)
    if location.scheme != "file":
        return uri
    return "file:" + os.path.realpath(location.path)


def overlaps(spark: SparkSession, first: str, second: str) -> bool:
    """True when one path equals or lies inside the other (symlinks followed)."""
    a, b = resolved(spark, first), resolved(spark, second)
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def unwritable_reason(spark: SparkSession, path: str) -> str | None:
    """Why a folder cannot be created or written at ``path``, or None when it can.

    Known for local paths (the nearest existing folder above must be a writable folder);
    object stores and HDFS say so only when written, so None there.
    """
    location = urlparse(resolved(spark, path))
    if location.scheme != "file":
        return None
    existing = location.path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


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
