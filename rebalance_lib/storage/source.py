"""Read the input: a Delta path (pinned to one version), a Parquet path, or a catalog table."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyspark.sql.functions as F
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import InputError
from rebalance_lib.core.options import TableLayout
from rebalance_lib.core.tables import Table
from rebalance_lib.storage import delta_sql, fs
from rebalance_lib.storage.fs import absolute


@dataclass(frozen=True)
class SourceInfo:
    """What was read: enough to say exactly which data a run saw."""

    name: str
    format: str
    delta_version: int | None
    size_bytes: int | None
    appended_after_version: int | None = None  # set for an incremental run's appended rows
    layout: TableLayout = field(default_factory=TableLayout)  # kept by the output by default

    @property
    def path(self) -> str | None:
        """The input's location, when it was read by path."""
        return self.name if self.format in ("delta", "parquet") else None

    @property
    def subject(self) -> str:
        """The input as a job description names it: ``/data/events @ v3``."""
        if self.delta_version is None:
            return self.name
        return f"{self.name} @ v{self.delta_version}"


# A DataFrame handed to the API: rebalance knows nothing of where its rows come from.
DATAFRAME_SOURCE = SourceInfo(
    name="DataFrame", format="dataframe", delta_version=None, size_bytes=None
)


def read_source(
    spark: SparkSession, source: str, input_format: str = "delta", version: int | None = None
) -> tuple[DataFrame, SourceInfo]:
    """Open the input lazily; a Delta input is pinned to one version for the whole run.

    Args:
        source: a Delta or Parquet path, or a catalog table name.
        input_format: ``delta``, ``parquet`` or ``table``.
        version: the Delta version to read (default the latest, pinned).

    Example:
        >>> source_df, info = read_source(spark, source_path)
    """
    if input_format == "table":
        return _read_table(spark, source, version)
    if input_format == "parquet":
        if version is not None:
            raise InputError(
                "a version needs a Delta input; Parquet has no versions",
                fix={"version": None},
            )
        _refuse_delta_files(spark, source, source)
        try:
            parquet_df = spark.read.parquet(absolute(source))
        except AnalysisException as error:
            if error.getCondition() == "PATH_NOT_FOUND":
                raise _missing(source) from None
            reason = str(error).splitlines()[0]
            raise InputError(f"cannot read {source} as Parquet: {reason}") from None
        return parquet_df, SourceInfo(source, "parquet", None, fs.size_bytes(spark, source))
    detail = delta_sql.table_detail(spark, Table(source))
    if detail is None:
        if not fs.exists(spark, source):
            raise _missing(source)
        raise InputError(
            f"input {source} is not a Delta table (no _delta_log): read Parquet files as Parquet",
            fix={"input_format": "parquet"},
        )
    newest = delta_sql.newest_version(spark, Table(source), detail)
    pinned = _pinned_version(newest, version, source)
    delta_df = spark.read.format("delta").option("versionAsOf", pinned).load(absolute(source))
    return delta_df, SourceInfo(source, "delta", pinned, detail.size_bytes, layout=detail.layout)


def _refuse_delta_files(spark: SparkSession, name: str, location: str) -> None:
    """Refuse to read a Delta table's folder as loose files: they include the files its later
    versions removed (an overwritten table would be read twice over)."""
    if fs.exists(spark, f"{location.rstrip('/')}/_delta_log"):
        raise InputError(
            f"input {name} is a Delta table (it holds a _delta_log): read as loose files it "
            "would include rows its later versions removed; read it as Delta",
            fix={"input_format": "delta"},
        )


def _catalog_facts(spark: SparkSession, name: str) -> dict[str, str]:
    """A catalog table's provider and location, as the catalog has them (none for a view)."""
    rows = (
        spark.sql(f"DESCRIBE TABLE EXTENDED {name}")
        .filter(F.col("col_name").isin("Provider", "Location"))
        .collect()
    )
    return {row["col_name"]: row["data_type"] for row in rows}


def _missing(source: str) -> InputError:
    return InputError(f"input {source} does not exist: check the path", fix={"source": None})


def _read_table(
    spark: SparkSession, name: str, version: int | None
) -> tuple[DataFrame, SourceInfo]:
    try:
        exists = spark.catalog.tableExists(name)
    except AnalysisException as error:  # a path, or a name SQL cannot parse
        if error.getCondition() != "PARSE_SYNTAX_ERROR":
            raise
        raise InputError(
            f"{name} is not a table name: read a path as Delta or Parquet",
            fix={"input_format": "delta"},
        ) from None
    if not exists:
        raise InputError(f"table {name} does not exist in the catalog", fix={"source": None})
    facts = _catalog_facts(spark, name)
    if facts.get("Provider", "").lower() != "delta" and "Location" in facts:
        _refuse_delta_files(spark, name, facts["Location"])
    try:
        detail = delta_sql.detail(spark, name)
    except AnalysisException:  # a view, or a table whose source cannot describe itself
        detail = None
    if detail is None:
        if version is not None:
            raise InputError(
                f"a version needs a Delta table; {name} is not one", fix={"version": None}
            )
        return spark.table(name), SourceInfo(name, "table", None, None)
    pinned = _pinned_version(delta_sql.latest_version(spark, name), version, name)
    table_df = spark.sql(f"SELECT * FROM {name} VERSION AS OF {pinned}")
    return table_df, SourceInfo(
        name, "delta-table", pinned, detail.size_bytes, layout=detail.layout
    )


def _pinned_version(latest: int, wanted: int | None, name: str) -> int:
    if wanted is None:
        return latest
    if wanted > latest:
        raise InputError(
            f"version {wanted} does not exist: {name} is at version {latest}",
            fix={"version": None},
        )
    return wanted
