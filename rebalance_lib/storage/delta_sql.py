"""A Delta table's facts and metadata changes through Spark SQL: ``DESCRIBE DETAIL``,
``DESCRIBE HISTORY``, ``ALTER TABLE`` and ``RESTORE``.

SQL rather than the ``DeltaTable`` Python API, which needs the driver's JVM in this process:
the same statements answer on a classic session, on a cluster and over Spark Connect. A
table is named by a SQL reference: ``delta.`/abs/path``` for a path (``table_ref``) or a
catalog name; the functions here take a ``Table``, a path or a catalog table, parsed once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.batches import DataFile
from rebalance_lib.core.options import TableLayout
from rebalance_lib.core.tables import Table
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
    features: tuple[str, ...] = ()  # the protocol's table features


def quoted_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def table_ref(table: Table) -> str:
    """The SQL name of the Delta table at a path (Delta takes only absolute paths) or of a
    table in the catalog."""
    if table.in_catalog:
        return table.where
    return "delta." + quoted_name(absolute(table.where))


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
        str(row["location"]),
        int(row["sizeInBytes"]),
        layout,
        row["properties"] or {},
        tuple(row["tableFeatures"] or ()),
    )


def table_detail(spark: SparkSession, table: Table) -> TableDetail | None:
    """The Delta ``table`` (its root, for a path: Delta would also answer for a partition
    folder inside a table, which is not a table of its own), or None."""
    if table.in_catalog:
        return detail(spark, table.where) if spark.catalog.tableExists(table.where) else None
    if fs.known_absent(spark, _log_folder(table.where)):
        return None
    found = detail(spark, table_ref(table))
    if found is None or fs.resolved(spark, found.location) != fs.resolved(spark, table.where):
        return None
    return found


def is_delta(spark: SparkSession, table: Table) -> bool:
    return table_detail(spark, table) is not None


def location(spark: SparkSession, table: Table) -> str | None:
    """Where the table's files are: a path as given, a catalog table's location (None
    while it does not exist)."""
    if not table.in_catalog:
        return table.where
    found = table_detail(spark, table)
    return None if found is None else found.location


def catalog_location(spark: SparkSession, name: str, qualified: Sequence[str]) -> str | None:
    """Where the catalog table ``name`` (``qualified``: its catalog, database and table)
    keeps its files, or would as a new managed table (its database's folder and its name);
    None when the catalog does not say."""
    if spark.catalog.tableExists(name):
        rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
        found = [row["data_type"] for row in rows if row["col_name"] == "Location"]
    else:
        catalog, database, table = qualified
        namespace = f"{quoted_name(catalog)}.{quoted_name(database)}"
        rows = spark.sql(f"DESCRIBE NAMESPACE {namespace}").collect()
        found = [
            f"{row['info_value'].rstrip('/')}/{table}"
            for row in rows
            if row["info_name"] == "Location"
        ]
    return found[0] if found else None


def read_version(spark: SparkSession, table: Table, version: int | None) -> DataFrame:
    """The table as it was at ``version`` (None: as it is now)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.table(table.where) if table.in_catalog else reader.load(absolute(table.where))


def history(spark: SparkSession, ref: str) -> DataFrame:
    """The table's commits, newest first (a query over the log: no data file is read)."""
    return spark.sql(f"DESCRIBE HISTORY {ref}")


def latest_version(spark: SparkSession, ref: str) -> int:
    """The newest committed version of the Delta table ``ref``: the version a reader that
    starts now sees. Not a way to learn which commit a write made (see ``tagged_version``)."""
    newest = spark.sql(f"DESCRIBE HISTORY {ref} LIMIT 1").select("version").first()
    assert newest is not None  # a Delta table has at least one commit
    return int(newest[0])


# Table features under which a commit may live with a catalog or a commit coordinator before
# it is a file in _delta_log: only Delta itself knows the newest version of such a table.
_COMMITS_KEPT_ELSEWHERE = {"catalogManaged", "catalogOwned-preview", "coordinatedCommits-preview"}
_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


def newest_version(spark: SparkSession, table: Table, found: TableDetail) -> int:
    """The newest version of the Delta ``table`` at a path (described as ``found``):
    the highest numbered commit file in its _delta_log, as the protocol defines it, where
    this process sees that folder; else ``DESCRIBE HISTORY`` (``latest_version``)."""
    if not _COMMITS_KEPT_ELSEWHERE & set(found.features):
        commits = _local_commit_files(spark, table)
        if commits:
            return max(commits)
    return latest_version(spark, table_ref(table))


def tagged_version(
    spark: SparkSession, table: Table, user_metadata: str, after: int | None
) -> tuple[int | None, int]:
    """The version of the commit newer than ``after`` whose ``userMetadata`` is exactly
    ``user_metadata`` (None when there is none: another writer's commits, before or after
    it, cannot be mistaken for it), and the table's newest version.

    Where this process sees the table's log, the newest commit files are read; a tag not
    found there is looked up in the history, one query."""
    commits = _local_commit_files(spark, table)
    if commits:
        for version in sorted(commits, reverse=True):
            if after is not None and version <= after:
                break
            if _commit_user_metadata(commits[version]) == user_metadata:
                return version, max(commits)
    found = (
        history(spark, table_ref(table))
        .select(
            F.max(
                F.when(
                    (F.col("userMetadata") == F.lit(user_metadata))
                    & (F.col("version") > F.lit(-1 if after is None else after)),
                    F.col("version"),
                )
            ),
            F.max("version"),
        )
        .first()
    )
    assert found is not None and found[1] is not None  # a Delta table has a commit
    return (None if found[0] is None else int(found[0])), int(found[1])


def _log_folder(where: str) -> str:
    return f"{absolute(where).rstrip('/')}/_delta_log"


def _local_commit_files(spark: SparkSession, table: Table) -> dict[int, Path]:
    """The commit files of a table at a path by version, where this process sees its log
    and no commit waits outside it (``_staged_commits``); empty otherwise, and for a table in
    the catalog."""
    log_folder = None if table.in_catalog else fs.local_folder(spark, _log_folder(table.where))
    if log_folder is None:
        return {}
    staged = log_folder / "_staged_commits"
    if staged.is_dir() and any(staged.iterdir()):
        return {}
    return {
        int(match[1]): entry
        for entry in log_folder.iterdir()
        if (match := _COMMIT_FILE.match(entry.name))
    }


def _actions(commit_file: Path, kind: str) -> Iterator[Any]:
    """The ``kind`` actions of a commit file (``commitInfo``, ``add``, ...), in its order:
    one JSON object per line, its one key naming the action."""
    prefix = f'{{"{kind}"'
    with commit_file.open() as lines:
        for line in lines:
            if line.startswith(prefix):
                yield json.loads(line)[kind]


def _commit_user_metadata(commit_file: Path) -> str | None:
    """The ``userMetadata`` of a commit file's ``commitInfo`` action, if it has one."""
    info = next(_actions(commit_file, "commitInfo"), None)
    return info.get("userMetadata") if isinstance(info, dict) else None


def _data_file_name(add_path: str) -> str:
    """The file name in an ``add`` action's path (relative and URL-encoded)."""
    return unquote(add_path.rsplit("/", 1)[-1])


# Characters Spark expands in a path it is given to read: such a path is not read as is.
_GLOB_CHARACTERS = frozenset("*?[]{}\\")


def commit_added_files(spark: SparkSession, table: Table, version: int) -> list[DataFile] | None:
    """The data files the commit at ``version`` added, in the order of its ``add`` actions
    (as a reader of the log lists them). None where the commit is not a file in the table's
    log."""
    found = table_detail(spark, table)
    if found is None or _COMMITS_KEPT_ELSEWHERE & set(found.features):
        return None
    local = _local_commit_files(spark, table).get(version)
    if local is not None:  # read here, as the other facts of a log this process sees
        adds = [(add["path"], add.get("stats")) for add in _actions(local, "add")]
    else:
        commit = f"{found.location.rstrip('/')}/_delta_log/{version:020d}.json"
        adds = [
            (str(row["path"]), row["stats"])
            for row in spark.read.text(commit)
            .select(
                F.monotonically_increasing_id().alias("line"),
                F.get_json_object("value", "$.add.path").alias("path"),
                F.get_json_object("value", "$.add.stats").alias("stats"),
            )
            .filter(F.col("path").isNotNull())
            .orderBy("line")
            .collect()
        ]
    root = found.location.rstrip("/")
    return [
        DataFile(_data_file_name(path), f"{root}/{unquote(path)}", _stated_rows(stats))
        for path, stats in adds
    ]


def _stated_rows(stats: str | None) -> int | None:
    rows = json.loads(stats).get("numRecords") if stats else None
    return rows if isinstance(rows, int) else None


def rows_readable_from_files(
    spark: SparkSession, table: Table, files: Sequence[DataFile], column: str
) -> bool:
    """Whether ``files`` can be read as plain Parquet for ``column``, each row at its index
    in its file: every file states its rows, the column is stored in the files under its own
    name (no column mapping, not a partition column), and no path would be expanded."""
    found = table_detail(spark, table)
    if found is None or found.properties.get("delta.columnMapping.mode", "none") != "none":
        return False
    return (
        column not in found.layout.partition_by
        and all(f.rows is not None for f in files)
        and not any(_GLOB_CHARACTERS & set(f.path) for f in files)
    )


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
