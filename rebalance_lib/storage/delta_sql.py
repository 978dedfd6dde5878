"""A Delta table's facts and metadata changes through Spark SQL: ``DESCRIBE DETAIL``,
``DESCRIBE HISTORY``, ``ALTER TABLE`` and ``RESTORE``.

SQL rather than the ``DeltaTable`` Python API, which needs the driver's JVM in this process:
the same statements answer on a classic session, on a cluster and over Spark Connect. A
table is named by a SQL reference: ``delta.`/abs/path``` for a path (``path_ref``) or a
catalog name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.options import TableLayout
from rebalance_lib.storage import fs
from rebalance_lib.storage.fs import absolute

# What DESCRIBE DETAIL raises where there is no Delta table (or nothing at all).
_NO_TABLE = {
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_TABLE_NOT_FOUND",
    "TABLE_OR_VIEW_NOT_FOUND",
    "PATH_NOT_FOUND",
    "DELTA_PATH_DOES_NOT_EXIST",
    "DELTA_INVALID_PARTITION_PATH",  # a folder inside a table
}


@dataclass(frozen=True)
class TableDetail:
    """What a Delta table's log says of it now, without reading a data file."""

    location: str
    size_bytes: int
    layout: TableLayout = field(default_factory=TableLayout)
    properties: Mapping[str, str] = field(default_factory=dict)


def quoted_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def path_ref(path: str) -> str:
    """The SQL name of the Delta table at ``path`` (Delta takes only absolute paths)."""
    return "delta." + quoted_name(absolute(path))


def detail(spark: SparkSession, ref: str) -> TableDetail | None:
    """The Delta table ``ref`` names, or None when there is none (no path, or no Delta log)."""
    try:
        row = spark.sql(f"DESCRIBE DETAIL {ref}").first()
    except AnalysisException as error:
        if error.getCondition() in _NO_TABLE:
            return None
        raise
    if row is None or row["format"] != "delta":
        return None
    layout = TableLayout(
        tuple(row["partitionColumns"] or ()), tuple(row["clusteringColumns"] or ())
    )
    return TableDetail(
        str(row["location"]), int(row["sizeInBytes"]), layout, row["properties"] or {}
    )


def path_detail(spark: SparkSession, path: str) -> TableDetail | None:
    """The Delta table whose root is ``path``, or None (Delta would also answer for a
    partition folder inside a table: that is not a table of its own)."""
    found = detail(spark, path_ref(path))
    if found is None or fs.resolved(spark, found.location) != fs.resolved(spark, path):
        return None
    return found


def is_delta(spark: SparkSession, path: str) -> bool:
    return path_detail(spark, path) is not None


def history(spark: SparkSession, ref: str) -> DataFrame:
    """The table's commits, newest first (a query over the log: no data file is read)."""
    return spark.sql(f"DESCRIBE HISTORY {ref}")


def latest_version(spark: SparkSession, ref: str) -> int:
    """The newest committed version of the Delta table ``ref``: the version a reader that
    starts now sees. Not a way to learn which commit a write made (see ``tagged_version``)."""
    newest = spark.sql(f"DESCRIBE HISTORY {ref} LIMIT 1").select("version").first()
    assert newest is not None  # a Delta table has at least one commit
    return int(newest[0])


def tagged_version(spark: SparkSession, ref: str, user_metadata: str) -> int | None:
    """The version of the commit whose ``userMetadata`` is exactly ``user_metadata``: another
    writer's commits, before or after it, cannot be mistaken for it."""
    found = (
        history(spark, ref)
        .filter(F.col("userMetadata") == F.lit(user_metadata))
        .select(F.max("version"))
        .first()
    )
    return None if found is None or found[0] is None else int(found[0])


def set_properties(spark: SparkSession, ref: str, properties: Mapping[str, Any]) -> None:
    """Set table properties in one metadata-only commit."""
    assignments = ", ".join(f"'{_quoted(k)}' = '{_quoted(str(v))}'" for k, v in properties.items())
    spark.sql(f"ALTER TABLE {ref} SET TBLPROPERTIES ({assignments})")


def cluster_by(spark: SparkSession, ref: str, columns: Sequence[str]) -> None:
    """Set the liquid clustering columns (metadata only)."""
    names = ", ".join(quoted_name(name) for name in columns)
    spark.sql(f"ALTER TABLE {ref} CLUSTER BY ({names})")


def restore(spark: SparkSession, ref: str, version: int) -> None:
    """Make ``version`` the table's current state again, in a new commit."""
    spark.sql(f"RESTORE TABLE {ref} TO VERSION AS OF {int(version)}")


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
