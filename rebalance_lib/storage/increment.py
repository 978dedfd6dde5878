"""Stable incremental reruns, the storage side: the last run's lineage and the rows appended
to the source since (from the change data feed, or the files the appends added)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.increment import PreviousRun, extendable_run
from rebalance_lib.core.tables import Table
from rebalance_lib.storage import delta_sql, lineage
from rebalance_lib.storage.fs import absolute

log = logging.getLogger(__name__)

# Commits that add rows and change nothing else, and commits that change no rows at all.
_APPENDS = {("WRITE", "Append"), ("STREAMING UPDATE", "Append")}
_NO_DATA_CHANGE = {"SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "VACUUM START", "VACUUM END"}
# Commits that change the schema and no row: the earlier runs' rows lack (or keep) its columns.
_SCHEMA_CHANGES = {
    "ADD COLUMNS",
    "CHANGE COLUMN",
    "CHANGE COLUMNS",
    "DROP COLUMNS",
    "RENAME COLUMN",
    "REPLACE COLUMNS",
    "UPDATE SCHEMA",
}
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


def previous_run(spark: SparkSession, output: Table, wanted: Mapping[str, Any]) -> PreviousRun:
    """The last run written to ``output``, checked to be one an increment can extend."""
    if not delta_sql.is_delta(spark, output):
        raise ConfigError(
            f"an increment extends an earlier run, but {output} is not a Delta table yet: "
            "run once in full first",
            fix={"incremental_into": False},
        )
    history = lineage.rebalance_history(spark, output)
    if not history:
        raise ConfigError(f"{output} was not written by rebalance: an increment needs its runs")
    return extendable_run(history[0], wanted)


def check_append_only(
    spark: SparkSession,
    ref: str,
    after_version: int,
    to_version: int,
    name: str,
    compacted_ok: bool,
) -> None:
    """Refuse when a commit since ``after_version`` changed or removed rows (or, unless the
    change data feed tells appends apart, rewrote files with OPTIMIZE)."""
    commits = (
        delta_sql.history(spark, ref)
        .filter((F.col("version") > after_version) & (F.col("version") <= to_version))
        .select("version", "operation", "operationParameters")
        .collect()
    )
    for commit in commits:
        parameters = commit["operationParameters"] or {}
        mode = parameters.get("mode") or parameters.get("outputMode")
        if (commit["operation"], mode) in _APPENDS or commit["operation"] in _NO_DATA_CHANGE:
            continue
        if commit["operation"] == "OPTIMIZE" and compacted_ok:
            continue
        if commit["operation"] in _SCHEMA_CHANGES:
            raise InputError(
                f"{name} version {commit['version']} ({commit['operation']}) changed its "
                "schema, not its rows: an increment appends rows shaped as the earlier runs' "
                "are; rerun in full and overwrite",
                fix={"mode": "overwrite"},
            )
        raise InputError(
            f"{name} version {commit['version']} ({commit['operation']}) changed or removed "
            "rows: an increment can only add rows; rerun in full and overwrite",
            fix={"mode": "overwrite"},
        )


def appended_rows(spark: SparkSession, path: str, after_version: int, to_version: int) -> DataFrame:
    """The rows added to the Delta table at ``path`` after ``after_version``, up to ``to_version``.

    From the change data feed when the table has it on; otherwise from the data files the
    append commits added (the files of ``to_version`` missing from ``after_version``).
    """
    ref = delta_sql.table_ref(Table(path))
    detail = delta_sql.table_detail(spark, Table(path))
    properties = detail.properties if detail is not None else {}
    has_change_feed = str(properties.get("delta.enableChangeDataFeed", "false")).lower() == "true"
    check_append_only(spark, ref, after_version, to_version, path, compacted_ok=has_change_feed)
    if has_change_feed:
        log.info("[incremental] reading the change data feed of %s", path)
        changes_df = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", after_version + 1)
            .option("endingVersion", to_version)
            .load(absolute(path))
        )
        return changes_df.filter(F.col("_change_type") == "insert").drop(*_CDF_COLUMNS)
    before = set(_files_at(spark, path, after_version))
    new_files = [name for name in _files_at(spark, path, to_version) if name not in before]
    log.info("[incremental] %d data files were appended to %s", len(new_files), path)
    version_df = spark.read.format("delta").option("versionAsOf", to_version).load(absolute(path))
    return version_df.filter(F.col("_metadata.file_path").isin(new_files))


def _files_at(spark: SparkSession, path: str, version: int) -> list[str]:
    version_df = spark.read.format("delta").option("versionAsOf", version).load(absolute(path))
    return list(version_df.inputFiles())
