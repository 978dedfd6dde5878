"""Write the output as one atomic Delta commit, with lineage, never over the input."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.faults import fault_point
from rebalance_lib.core.sweep import METADATA_KEY
from rebalance_lib.storage import fs
from rebalance_lib.storage.source import latest_version

log = logging.getLogger(__name__)

_SAVE_MODES = {"error": "errorifexists", "overwrite": "overwrite", "append": "append"}
# Characters Delta refuses in column names unless the table maps names to physical columns.
_NEEDS_COLUMN_MAPPING = set(" ,;{}()\n\t=")
_COLUMN_MAPPING = {
    "delta.columnMapping.mode": "name",
    "delta.minReaderVersion": "2",
    "delta.minWriterVersion": "5",
}


@dataclass(frozen=True)
class WriteResult:
    """The Delta version the output is at after the write, and whether the write was a repeat."""

    path: str
    previous_version: int | None
    delta_version: int  # the data commit
    skipped_as_repeat: bool
    table_version: int  # after the lineage properties' own commit
    rows_where: str | None = None  # the condition selecting this write's rows (one partition)


def check_output_path(
    spark: SparkSession,
    output_path: str,
    input_path: str | None,
    mode: str,
    report_dir: str | None = None,
) -> None:
    """Refuse, before any work, an output (or report folder) that would clobber the input or
    an existing table, or that cannot be written at all."""
    for name, path in (("output", output_path), ("report folder", report_dir)):
        if path is None:
            continue
        if input_path is not None and fs.overlaps(spark, path, input_path):
            raise OutputError(
                f"{name} {path} overlaps the input {input_path} (symlinks followed): "
                "write to a separate path",
                fix={"path" if name == "output" else "report_dir": None},
            )
        reason = fs.unwritable_reason(spark, path)
        if reason is not None:
            raise OutputError(
                f"{name} {path} cannot be written: {reason}",
                fix={"path" if name == "output" else "report_dir": None},
            )
    if not fs.exists(spark, output_path) or fs.is_empty_dir(spark, output_path):
        return
    is_delta = DeltaTable.isDeltaTable(spark, output_path)
    if not is_delta and fs.exists(spark, f"{output_path.rstrip('/')}/_delta_log"):
        log.info(
            "%s holds an uncommitted Delta write (a killed run): writing over it; Delta ignores "
            "its orphan files and VACUUM removes them",
            output_path,
        )
        return
    if mode == "error":
        kind = "a Delta table" if is_delta else "a non-empty path"
        raise OutputError(
            f"output {output_path} already exists ({kind}): overwrite it, append to it, "
            "or choose a new path",
            fix={"mode": "overwrite"},
        )
    if not is_delta:
        raise OutputError(
            f"output {output_path} exists and is not a Delta table: refusing to write into it; "
            "choose a new path"
        )


def check_not_a_sweep(spark: SparkSession, path: str) -> None:
    """Refuse appending to a sweep's table: rows without its draw would get a null one, and
    no factor selected from the table would hold them."""
    if not DeltaTable.isDeltaTable(spark, path):
        return
    fields = spark.read.format("delta").load(path).schema.fields
    if any(METADATA_KEY in field.metadata for field in fields):
        raise OutputError(
            f"{path} holds a factor sweep: its rows are selected by their draw, which appended "
            "rows would lack; write to a new path or overwrite",
            fix={"mode": "overwrite"},
        )


def check_inputs_outside(spark: SparkSession, path: str, input_files: list[str]) -> None:
    """Refuse an output that holds files the rows are read from (a DataFrame's own input)."""
    root = urlparse(fs.resolved(spark, path))
    folders = {name.rsplit("/", 1)[0] for name in input_files}
    for folder in folders:
        location = urlparse(fs.resolved(spark, folder))
        inside = location.path == root.path or location.path.startswith(root.path + "/")
        if inside and location.scheme == root.scheme:
            raise OutputError(
                f"{path} holds files the input is read from: write to a separate path"
            )


def write_delta(
    df: DataFrame,
    path: str,
    mode: str,
    run_id: str,
    user_metadata: str,
    table_properties: Mapping[str, str],
    partition_by: Sequence[str] = (),
    cluster_by: Sequence[str] = (),
    replace_where: str | None = None,
) -> WriteResult:
    """Write ``df`` to the Delta table at ``path`` in one data commit.

    ``error`` creates the table, ``overwrite`` replaces it (old versions stay readable through
    time travel), ``append`` adds to it. A write repeating ``run_id`` commits nothing, so a
    retried task cannot append twice. Lineage properties follow in a metadata-only commit:
    the DataFrameWriterV2 path that could set them atomically loses observed metrics. So do
    the clustering columns (``cluster_by``): Delta's DataFrameWriter ignores ``clusterBy``,
    and its V2 ``create`` refuses it. With ``replace_where``, an overwrite replaces only the
    rows that condition selects (Delta checks that every row written meets it).
    """
    spark = df.sparkSession
    version_before = (
        latest_version(DeltaTable.forPath(spark, path))
        if DeltaTable.isDeltaTable(spark, path)
        else None
    )
    writer = (
        df.write.format("delta")
        .mode(_SAVE_MODES[mode])
        .option("userMetadata", user_metadata)
        .option("txnAppId", f"rebalance-{run_id}")
        .option("txnVersion", 1)
        .option("overwriteSchema", str(mode == "overwrite" and replace_where is None).lower())
    )
    if replace_where is not None and mode == "overwrite":
        writer = writer.option("replaceWhere", replace_where)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if any(set(name) & _NEEDS_COLUMN_MAPPING for name in df.columns):
        # Delta stores such names only with column mapping: keep the input's names as they are.
        for key, value in _COLUMN_MAPPING.items():
            writer = writer.option(key, value)
    try:
        writer.save(path)
    except AnalysisException as error:
        reason = str(error).splitlines()[0]
        raise OutputError(
            f"cannot write {path}: {reason}; overwriting replaces the table",
            fix={"mode": "overwrite"},
        ) from None
    fault_point("after-data-commit")
    version_after = latest_version(DeltaTable.forPath(spark, path))
    skipped = version_after == version_before
    table_version = version_after
    if not skipped and (table_properties or cluster_by):
        finish_table(spark, path, table_properties, cluster_by)
        table_version = latest_version(DeltaTable.forPath(spark, path))
    return WriteResult(path, version_before, version_after, skipped, table_version, replace_where)


def undo_write(spark: SparkSession, write: WriteResult) -> None:
    """Take back a committed write: restore the version before it, or remove a new table."""
    if write.previous_version is None:
        fs.delete(spark, write.path)
        log.info("removed %s, which this run had created", write.path)
        return
    DeltaTable.forPath(spark, write.path).restoreToVersion(write.previous_version)
    log.info("restored %s to version %d", write.path, write.previous_version)


def finish_table(
    spark: SparkSession, path: str, properties: Mapping[str, str], cluster_by: Sequence[str]
) -> None:
    """After the data commit: the clustering columns, then the properties (metadata only)."""
    if cluster_by:
        columns = ", ".join(_quoted_name(name) for name in cluster_by)
        spark.sql(f"ALTER TABLE {_table_name(spark, path)} CLUSTER BY ({columns})")
    if properties:
        set_table_properties(spark, path, properties)


def set_table_properties(spark: SparkSession, path: str, properties: Mapping[str, str]) -> None:
    """Set table properties of the Delta table at ``path`` in one metadata-only commit."""
    assignments = ", ".join(f"'{_quoted(k)}' = '{_quoted(v)}'" for k, v in properties.items())
    spark.sql(f"ALTER TABLE {_table_name(spark, path)} SET TBLPROPERTIES ({assignments})")


def _table_name(spark: SparkSession, path: str) -> str:
    return "delta." + _quoted_name(fs.qualified(spark, path))


def _quoted_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
