"""Path facts, each from where it can be known, so a run works on a classic session, on a
cluster and over Spark Connect alike.

On the local disk, when this process is the driver (a classic session):

- symlinks resolved, so two names of one folder compare equal;
- whether a folder can be created and written (a missing permission is said before any work);
- whether a path exists, whether it holds files, their total size (as Spark lists them);
- that nothing is at a path (no ``_delta_log``: no table to describe, no query sent);
- a Delta table's newest version and a write's own commit: its commit files in ``_delta_log``;
- removing a folder (a table this run created and must take back, or an aborted write's
  files), and the report written as plain files.

On any other file system of a classic session (``s3a://``, ``abfss://``, ``gs://``,
``hdfs://``), through the driver's Hadoop ``FileSystem`` (``storage/hadoop_fs.py``): whether a
path exists or holds data (one status call, a listing that stops at the first data file),
removing a folder, and the report's files as single objects.

Through Spark, everywhere (any scheme): a Delta table's location, size, layout, properties
and versions (``DESCRIBE DETAIL``, ``DESCRIBE HISTORY``: ``storage/delta_sql.py``) and the
total size of a folder's files (a ``binaryFile`` listing: names and lengths only).

Over Spark Connect the client has neither the server's disk nor its JVM. Paths are compared
as written (made absolute); whether a path exists or holds data is a ``binaryFile`` listing;
the write itself says when a folder cannot be written; the report goes through Spark (each
file a folder of that name with one part file); and nothing can be removed, so a run that
must take a write back fails with one line naming what is left.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.locations import Location, location
from rebalance_lib.storage import hadoop_fs

log = logging.getLogger(__name__)


def client_is_driver(spark: SparkSession) -> bool:
    """True on a classic session: this process is Spark's driver and sees its file system."""
    return not type(spark).__module__.startswith("pyspark.sql.connect")


def absolute(path: str) -> str:
    """``path`` with a relative local path made absolute (the working directory of the
    client; on a classic session that is the driver's), and a bucket's or container's root
    given its ``/`` (``s3a://bucket`` -> ``s3a://bucket/``: Hadoop and Delta take only a path
    with one as absolute)."""
    parsed = urlparse(path)
    if parsed.scheme:
        return f"{path}/" if parsed.netloc and not parsed.path else path
    if os.path.isabs(path):
        return path
    return os.path.abspath(path)


def _local(spark: SparkSession, path: str) -> str | None:
    """The local file system path of ``path`` when this process is the driver, else None."""
    location = urlparse(absolute(path))
    if not client_is_driver(spark) or location.scheme not in ("", "file"):
        return None
    return os.path.normpath(location.path)


def _files(spark: SparkSession, path: str, limit: int | None = None) -> list[int] | None:
    """The lengths of the files under ``path`` (names starting with ``_`` or ``.`` left out,
    as Spark's readers do), None when nothing is there: off the local disk where it is the
    driver's, else as Spark lists them."""
    local = _local(spark, path)
    if local is not None:
        return _local_files(local, limit)
    try:  # a classic session lists the files when the reader loads, Connect when it runs
        listing_df = _listing(spark, path).select("length")
        rows = (listing_df if limit is None else listing_df.limit(limit)).collect()
    except AnalysisException as error:
        if error.getCondition() == "PATH_NOT_FOUND":
            return None
        raise
    return [int(row[0]) for row in rows]


def _hadoop(spark: SparkSession, path: str) -> bool:
    """True where the driver's Hadoop file system answers for ``path``: a classic session and
    a path off the local disk."""
    return client_is_driver(spark) and _local(spark, path) is None


def _local_files(path: str, limit: int | None) -> list[int] | None:
    """``_files`` read off the local disk (the driver's own), as Spark would list them."""
    if not os.path.exists(path):
        return None
    if not os.path.isdir(path):
        return [os.path.getsize(path)]
    lengths: list[int] = []
    for folder, folders, files in os.walk(path, followlinks=True):
        folders[:] = [name for name in folders if not _hidden(name)]
        for name in files:
            if not _hidden(name):
                lengths.append(os.path.getsize(os.path.join(folder, name)))
                if limit is not None and len(lengths) >= limit:
                    return lengths
    return lengths


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _listing(spark: SparkSession, path: str) -> DataFrame:
    return (
        spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(absolute(path))
    )


def exists(spark: SparkSession, path: str) -> bool:
    if _hadoop(spark, path):
        return hadoop_fs.exists(spark, absolute(path))
    return _files(spark, path, limit=1) is not None


def local_folder(spark: SparkSession, folder: str) -> Path | None:
    """``folder`` on this disk, where this process is the driver and it is a folder there;
    else None."""
    local = _local(spark, folder)
    return Path(local) if local is not None and os.path.isdir(local) else None


def known_absent(spark: SparkSession, path: str) -> bool:
    """True when this process is the driver and sees nothing at ``path``; False when there is
    something, or when only Spark could tell (then ask it)."""
    local = _local(spark, path)
    return local is not None and not os.path.lexists(local)


def is_empty_dir(spark: SparkSession, path: str) -> bool:
    """True when ``path`` exists and holds no data file."""
    if _hadoop(spark, path):
        return hadoop_fs.holds_data(spark, absolute(path)) is False
    return _files(spark, path, limit=1) == []


def size_bytes(spark: SparkSession, path: str) -> int:
    """Total bytes of the files under ``path`` (a listing: no data is read)."""
    local = _local(spark, path)
    if local is not None:
        return sum(_local_files(local, None) or [])
    total = _listing(spark, path).select(F.sum("length")).first()
    return int(total[0] or 0) if total is not None else 0


def resolved(spark: SparkSession, path: str) -> Location:
    """The place ``path`` names (``core/locations.py``: one store for ``s3``/``s3a``/``s3n``,
    buckets and containers compared, trailing slashes ignored), with relative parts and, where
    this process is the driver, symlinks resolved: two names of one folder give one place."""
    local = _local(spark, path)
    return location(os.path.realpath(local) if local is not None else absolute(path))


def inside(spark: SparkSession, path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies inside it."""
    return resolved(spark, folder).contains(resolved(spark, path))


def overlaps(spark: SparkSession, first: str, second: str) -> bool:
    """True when one path equals or lies inside the other."""
    return inside(spark, first, second) or inside(spark, second, first)


def unwritable_reason(spark: SparkSession, path: str) -> str | None:
    """Why a folder cannot be created or written at ``path``, or None when it can or when
    only the write can tell (object stores, HDFS, a remote driver's disk)."""
    local = _local(spark, path)
    if local is None:
        return None
    existing = os.path.realpath(local)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


def delete(spark: SparkSession, path: str) -> None:
    """Remove ``path`` and everything under it, or fail with one line naming what is left."""
    local = _local(spark, path)
    if local is not None:
        shutil.rmtree(local, ignore_errors=True)
        left = os.path.lexists(local)
    elif client_is_driver(spark):
        left = not hadoop_fs.delete(spark, absolute(path))
    elif exists(spark, path):
        raise OutputError(
            f"{path} is left: a Spark Connect client cannot remove files on the server's "
            "file system; remove it by hand"
        )
    else:
        left = False
    if left:
        raise OutputError(f"{path} is left: it could not be removed; remove it by hand")


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file (a report): a plain file, or one object, named ``path`` on a
    classic session; over Spark Connect a one-row text write through Spark (a folder of that
    name with one part file)."""
    local = _local(spark, path)
    if local is not None:
        _write_local(Path(local), text.encode())
        return
    if client_is_driver(spark):
        hadoop_fs.write_bytes(spark, absolute(path), text.encode())
        return
    (
        spark.createDataFrame([(text,)], "value string")
        .coalesce(1)
        .write.mode("overwrite")
        .text(absolute(path))
    )


def _write_local(target: Path, data: bytes) -> None:
    if target.is_dir():  # written through Spark by an earlier run
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small text file written by ``write_text`` (either form), or None when absent."""
    local = _local(spark, path)
    if local is not None and os.path.isfile(local):
        return Path(local).read_text()
    if _hadoop(spark, path):
        data = hadoop_fs.read_bytes(spark, absolute(path))
        if data is not None:
            return data.decode()
    try:  # the folder form: written through Spark
        rows = spark.read.option("wholetext", "true").text(absolute(path)).collect()
    except AnalysisException as error:
        if error.getCondition() == "PATH_NOT_FOUND":
            return None
        raise
    return "".join(str(row[0]) for row in rows).rstrip("\n") if rows else None
