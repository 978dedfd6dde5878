"""Paths on any file system the driver's Hadoop configuration reaches (``s3a://``,
``abfss://``, ``gs://``, ``hdfs://``), through Hadoop's ``FileSystem`` API in the driver's JVM.

Classic-only: a Spark Connect client has no JVM, so ``storage/fs.py`` calls these only where
this process is the driver. Each answer is one or two requests to the store, never a scan:
``exists`` is one status call, ``holds_data`` lists one level at a time and stops at the first
data file, and the report's files are single objects with their own names.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def _file_system(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The Hadoop ``FileSystem`` holding ``path`` and its ``Path``, with the session's own
    settings (``spark.hadoop.*`` and those set at runtime) as Spark's readers have them."""
    jvm: Any = spark._jvm  # classic only
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(hadoop_conf), hadoop_path


def exists(spark: SparkSession, path: str) -> bool:
    file_system, hadoop_path = _file_system(spark, path)
    return bool(file_system.exists(hadoop_path))


def holds_data(spark: SparkSession, path: str) -> bool | None:
    """Whether ``path`` holds a data file (names starting with ``_`` or ``.`` left out, as
    Spark's readers do); None when nothing is there. One listing per folder, stopping at the
    first data file."""
    file_system, hadoop_path = _file_system(spark, path)
    if not file_system.exists(hadoop_path):
        return None
    folders = [hadoop_path]
    while folders:
        listing = file_system.listStatusIterator(folders.pop())
        while listing.hasNext():
            status = listing.next()
            if status.getPath().getName().startswith(("_", ".")):
                continue
            if not status.isDirectory():
                return True
            folders.append(status.getPath())
    return False


def delete(spark: SparkSession, path: str) -> bool:
    """Remove ``path`` and everything under it; True when nothing is left there."""
    file_system, hadoop_path = _file_system(spark, path)
    file_system.delete(hadoop_path, True)
    return not file_system.exists(hadoop_path)


def write_bytes(spark: SparkSession, path: str, data: bytes) -> None:
    """``data`` as one object (one file) named ``path``, replacing a file or a folder of that
    name (a report an earlier release wrote through Spark)."""
    file_system, hadoop_path = _file_system(spark, path)
    if file_system.isDirectory(hadoop_path):  # one status call: False when nothing is there
        file_system.delete(hadoop_path, True)
    stream = file_system.create(hadoop_path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_bytes(spark: SparkSession, path: str) -> bytes | None:
    """The bytes of the file ``path``; None when nothing is there or it is a folder."""
    file_system, hadoop_path = _file_system(spark, path)
    if not file_system.isFile(hadoop_path):  # one status call: False when nothing is there
        return None
    stream = file_system.open(hadoop_path)
    try:
        jvm: Any = spark._jvm  # classic only
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()
