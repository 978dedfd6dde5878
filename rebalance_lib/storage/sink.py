"""Write the output as one atomic Delta commit, with lineage, never over the input."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import OutputError, RebalanceError
from rebalance_lib.core.faults import fault_point
from rebalance_lib.core.sweep import METADATA_KEY
from rebalance_lib.core.tables import Table
from rebalance_lib.storage import delta_sql, fs
from rebalance_lib.storage.delta_sql import table_ref

log = logging.getLogger(__name__)
Failure = TypeVar("Failure", bound=RebalanceError)

_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
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

    table: Table
    previous_version: int | None
    delta_version: int  # the data commit
    skipped_as_repeat: bool
    table_version: int  # after the lineage properties' own commit
    rows_where: str | None = None  # the condition selecting this write's rows (one partition)


def check_output_named(output: Table) -> None:
    """Refuse an empty output (or ``table:`` without a name) before anything looks it up."""
    if not output.where.strip():
        raise OutputError(
            "the output is empty: name the Delta path (or table:DB.NAME) to write",
            fix={"path": None},
        )


def check_output_path(
    spark: SparkSession,
    output: Table,
    *,
    input_path: str | None,
    mode: str,
    report_dir: str | None = None,
) -> None:
    """Refuse, before any work, an output (or report folder) that would clobber the input or
    an existing table, or that cannot be written at all."""
    check_output_named(output)
    files = delta_sql.location(spark, output)  # None: a table not created yet
    for name, path in (("output", files), ("report folder", report_dir)):
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
    if output.in_catalog:
        _check_table_output(spark, output, mode)
        return
    output_path = output.where
    if not fs.exists(spark, output_path) or fs.is_empty_dir(spark, output_path):
        return
    is_delta = delta_sql.is_delta(spark, output)
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


def check_not_a_sweep(spark: SparkSession, output: Table) -> None:
    """Refuse appending to a sweep's table: rows without its draw would get a null one, and
    no factor selected from the table would hold them."""
    if not delta_sql.is_delta(spark, output):
        return
    fields = delta_sql.read_version(spark, output, None).schema.fields
    if any(METADATA_KEY in field.metadata for field in fields):
        raise OutputError(
            f"{output} holds a factor sweep: its rows are selected by their draw, which appended "
            "rows would lack; write to a new path or overwrite",
            fix={"mode": "overwrite"},
        )


def _check_table_output(spark: SparkSession, output: Table, mode: str) -> None:
    name = output.where
    if not spark.catalog.tableExists(name):
        return
    if not delta_sql.is_delta(spark, output):
        raise OutputError(
            f"table {name} exists and is not a Delta table: refusing to write into it; "
            "choose a new table"
        )
    if mode == "error":
        raise OutputError(
            f"table {name} already exists: overwrite it, append to it, or choose a new table",
            fix={"mode": "overwrite"},
        )


def check_inputs_outside(spark: SparkSession, path: str, input_files: list[str]) -> None:
    """Refuse an output that holds files the rows are read from (a DataFrame's own input)."""
    folders = {name.rsplit("/", 1)[0] for name in input_files}
    for folder in folders:
        if fs.inside(spark, folder, path):
            raise OutputError(
                f"{path} holds files the input is read from: write to a separate path"
            )


def transaction_version(source_version: int | None) -> int:
    """Delta's ``txnVersion`` for a run's data commit (its ``txnAppId`` is the run id): one
    past the source version it read, so a second attempt from the same version is skipped as
    a repeat, while a redo from a newer version commits. A source with no version (a
    DataFrame) is 1, as every commit was before versions keyed it.

    >>> transaction_version(0), transaction_version(6), transaction_version(None)
    (1, 7, 1)
    """
    return 1 if source_version is None else source_version + 1


def write_delta(
    df: DataFrame,
    table: Table,
    *,
    mode: str,
    run_id: str,
    txn_version: int,
    user_metadata: str,
    table_properties: Mapping[str, str],
    partition_by: Sequence[str] = (),
    cluster_by: Sequence[str] = (),
    replace_where: str | None = None,
) -> WriteResult:
    """Write ``df`` to the Delta ``table`` in one data commit.

    ``error`` creates the table, ``overwrite`` replaces it (old versions stay readable through
    time travel), ``append`` adds to it. A write repeating ``run_id`` commits nothing, so a
    retried task cannot append twice. Lineage properties follow in a metadata-only commit:
    the DataFrameWriterV2 path that could set them atomically loses observed metrics.
    ``txn_version`` (``transaction_version``) keys that idempotence by the source version. So do
    the clustering columns (``cluster_by``): Delta's DataFrameWriter ignores ``clusterBy``,
    and its V2 ``create`` refuses it. With ``replace_where``, an overwrite replaces only the
    rows that condition selects (Delta checks that every row written meets it).
    """
    spark = df.sparkSession
    ref = table_ref(table)
    version_before = (
        delta_sql.latest_version(spark, ref) if delta_sql.is_delta(spark, table) else None
    )
    writer = (
        df.write.format("delta")
        .mode(mode)  # error, overwrite or append: Connect knows no "errorifexists"
        .option("userMetadata", user_metadata)
        .option("txnAppId", f"rebalance-{run_id}")
        .option("txnVersion", txn_version)
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
        if not table.in_catalog:
            writer.save(fs.absolute(table.where))
        else:
            with _commit_metadata(spark, user_metadata):
                writer.saveAsTable(table.where)
    except AnalysisException as error:
        reason = str(error).splitlines()[0]
        raise OutputError(
            f"cannot write {table}: {reason}; overwriting replaces the table",
            fix={"mode": "overwrite"},
        ) from None
    fault_point("after-data-commit")
    # The run id is in the commit's userMetadata and txn makes it one commit per table, so
    # the tag finds this write's commit, whoever else commits; none new means a repeat. A
    # table this write created has no earlier transaction to repeat: its properties follow
    # at once, and one look-up then finds both commits.
    finish_first = version_before is None and bool(table_properties or cluster_by)
    if finish_first:
        finish_table(spark, table, table_properties, cluster_by)
    tagged, latest = delta_sql.tagged_version(spark, table, user_metadata, version_before)
    skipped = tagged is None
    created = latest if tagged is None else tagged
    table_version = latest
    if not skipped and not finish_first and (table_properties or cluster_by):
        finish_table(spark, table, table_properties, cluster_by)
        table_version = delta_sql.latest_version(spark, ref)
    return WriteResult(
        table=table,
        previous_version=version_before,
        delta_version=created,
        skipped_as_repeat=skipped,
        table_version=table_version,
        rows_where=replace_where,
    )


@contextmanager
def _commit_metadata(spark: SparkSession, user_metadata: str) -> Iterator[None]:
    """The commit's userMetadata for ``saveAsTable``, which ignores the writer's option (Delta
    4.4): the session setting, for this write only."""
    previous = spark.conf.get(_USER_METADATA_CONF, None)
    spark.conf.set(_USER_METADATA_CONF, user_metadata)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_USER_METADATA_CONF)
        else:
            spark.conf.set(_USER_METADATA_CONF, previous)


def undo_write(spark: SparkSession, write: WriteResult) -> None:
    """Take back a committed write: restore the version before it, or remove a new table."""
    if write.previous_version is None:
        remove_output(spark, write.table)
        log.info("removed %s, which this run had created", write.table)
        return
    delta_sql.restore(spark, table_ref(write.table), write.previous_version)
    log.info("restored %s to version %d", write.table, write.previous_version)


def after_taking_back(failure: Failure, take_back: Callable[[], None]) -> Failure:
    """``failure``, to raise once ``take_back`` has removed what the run wrote; where
    something is left (``fs.delete``), its one line says that too."""
    try:
        take_back()
    except OutputError as left:
        return type(failure)(f"{failure.message}; {left.message}", fix=failure.fix)
    return failure


def remove_output(spark: SparkSession, output: Table) -> None:
    """Remove an output this run created: drop a catalog table, delete a path's files."""
    if output.in_catalog:
        spark.sql(f"DROP TABLE IF EXISTS {output.where}")
    else:
        fs.delete(spark, output.where)


def remove_uncommitted(spark: SparkSession, output: Table) -> None:
    """Remove the files a stopped write left at a path that held nothing before it (an
    unfinished data file, Delta's staging folder), unless a table was committed there."""
    if not output.in_catalog and not delta_sql.is_delta(spark, output):
        fs.delete(spark, output.where)


def finish_table(
    spark: SparkSession, table: Table, properties: Mapping[str, str], cluster_by: Sequence[str]
) -> None:
    """After the data commit: the clustering columns, then the properties (metadata only)."""
    if cluster_by:
        delta_sql.cluster_by(spark, table_ref(table), cluster_by)
    if properties:
        delta_sql.set_properties(spark, table_ref(table), properties)
