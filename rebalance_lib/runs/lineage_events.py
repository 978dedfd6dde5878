"""OpenLineage run events: a START when a write begins, then a COMPLETE or a FAIL.

Configured only as the OpenLineage client is: ``OPENLINEAGE_URL`` (HTTP),
``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory or in
``~/.openlineage`` (any transport: file, Kafka, console...), ``OPENLINEAGE__...`` variables,
and ``OPENLINEAGE_DISABLED=true`` to turn it off. With none of them set, nothing is imported
and nothing is sent. The job's namespace is ``OPENLINEAGE_NAMESPACE`` (default
the parent's, else ``default``); a parent run (an Airflow task) comes from ``OPENLINEAGE_PARENT_ID``
(``namespace/job_name/run_id``, as Airflow's OpenLineage macros render it) and
``OPENLINEAGE_ROOT_PARENT_ID``.

Datasets are named by the OpenLineage naming spec: a path by its scheme and authority
(``file`` for the local filesystem, ``s3://bucket``, ``hdfs://host:port``) and its path; a
catalog table by its catalog (``catalog_table_id``): a Unity Catalog by its server
(``unitycatalog://host``, ``catalog.schema.table``), a Hive metastore by its address
(``hive://host:port``, ``database.table``), and a table of the session catalog's own
metastore, which has no address, by its files, with its name as a symlink (as the OpenLineage
Spark integration names it). A backend that is down or refuses an event costs a warning line,
never the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol
from urllib.parse import urlsplit

from pyspark.sql import DataFrame

from rebalance_lib.core.tables import Table

if TYPE_CHECKING:
    from rebalance_lib.runs.writing import Written
    from rebalance_lib.storage.source import SourceInfo

_CONFIG_FILE = "openlineage.yml"
# Object stores name a dataset by its key, without the leading slash; s3a/s3n are s3.
_KEY_NAMED_SCHEMES = {"s3", "gs", "abfss", "wasbs", "dbfs"}
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3"}


def lineage_configured(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> bool:
    """Whether the OpenLineage client has any configuration here (and is not disabled).

    Example:
        >>> lineage_configured({"OPENLINEAGE_URL": "http://marquez:5000"})
        True
    """
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__") for key in env):
        return True
    config_dirs = [cwd or Path.cwd(), Path("~/.openlineage").expanduser()]
    return any((folder / _CONFIG_FILE).is_file() for folder in config_dirs)


def dataset_id(location: str) -> tuple[str, str]:
    """A path's OpenLineage (namespace, name): ``file`` and the absolute path when local.

    Example:
        >>> dataset_id("s3a://lake/events")
        ('s3://lake', 'events')
        >>> dataset_id("/data/events")
        ('file', '/data/events')
    """
    parts = urlsplit(location)
    scheme = _SCHEME_ALIASES.get(parts.scheme, parts.scheme)
    if scheme in ("", "file") or len(scheme) == 1:  # a bare path (or a Windows drive letter)
        local = parts.path if scheme == "file" else location
        return "file", os.path.abspath(local)
    name = parts.path.lstrip("/") if scheme in _KEY_NAMED_SCHEMES else parts.path or "/"
    return (f"{scheme}://{parts.netloc}" if parts.netloc else scheme), name


class ParentRun(NamedTuple):
    """A run this one belongs to: an Airflow task, a DAG run."""

    namespace: str
    job_name: str
    run_id: str


def parent_runs(environ: Mapping[str, str] | None = None) -> tuple[ParentRun | None, ...]:
    """The parent and root runs, from ``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID``.

    Each is ``namespace/job_name/run_id``, as Airflow's OpenLineage macros render it.

    Example:
        >>> parent_runs({"OPENLINEAGE_PARENT_ID": "airflow/rebalance.run/0190-ab"})
        (ParentRun(namespace='airflow', job_name='rebalance.run', run_id='0190-ab'), None)
    """
    env = os.environ if environ is None else environ
    found: list[ParentRun | None] = []
    for variable in ("OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID"):
        parent_namespace, _, rest = env.get(variable, "").partition("/")
        job_name, _, run_id = rest.rpartition("/")
        complete = parent_namespace and job_name and run_id
        found.append(ParentRun(parent_namespace, job_name, run_id) if complete else None)
    return tuple(found)


class DatasetName(NamedTuple):
    """A dataset as OpenLineage names it; a catalog table named by its files also carries
    its table name (``symlink``: namespace and name)."""

    namespace: str
    name: str
    symlink: tuple[str, str] | None = None


# What a table's catalog answers to: its Spark settings, read through this callable.
ConfRead = Callable[[str], "str | None"]
_UNITY_CATALOG_CLASS = "io.unitycatalog.spark.UCSingleCatalog"
SESSION_CATALOG = "spark_catalog"


def qualified_table(name: str, current_catalog: str, current_database: str) -> tuple[str, ...]:
    """(catalog, database, table) of a table name as SQL reads it (backticks quote a part).

    Example:
        >>> qualified_table("events", "spark_catalog", "default")
        ('spark_catalog', 'default', 'events')
        >>> qualified_table("`my.db`.events", "spark_catalog", "default")
        ('spark_catalog', 'my.db', 'events')
        >>> qualified_table("main.ml.events", "spark_catalog", "default")
        ('main', 'ml', 'events')
    """
    parts, part, quoted, at = [], "", False, 0
    while at < len(name):
        char = name[at]
        if char == "`" and quoted and name[at + 1 : at + 2] == "`":
            part, at = part + "`", at + 2  # a doubled backtick inside quotes: one backtick
            continue
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(part)
            part = ""
        else:
            part += char
        at += 1
    parts.append(part)
    if len(parts) == 1:
        return current_catalog, current_database, parts[0]
    if len(parts) == 2:
        return current_catalog, parts[0], parts[1]
    return tuple(parts[-3:])


def catalog_table_id(table: tuple[str, ...], conf: ConfRead, location: str | None) -> DatasetName:
    """A catalog table's OpenLineage name, by the naming spec's rule for its catalog.

    Example:
        >>> settings = {"spark.hadoop.hive.metastore.uris": "thrift://metastore:9083"}
        >>> catalog_table_id(("spark_catalog", "ml", "events"), settings.get, None)
        DatasetName(namespace='hive://metastore:9083', name='ml.events', symlink=None)
        >>> catalog_table_id(("spark_catalog", "ml", "events"), {}.get, "file:/wh/ml.db/events")
        ... # doctest: +NORMALIZE_WHITESPACE
        DatasetName(namespace='file', name='/wh/ml.db/events',
                    symlink=('spark_catalog', 'ml.events'))
    """
    catalog, database, name = table
    if conf(f"spark.sql.catalog.{catalog}") == _UNITY_CATALOG_CLASS:
        server = urlsplit(conf(f"spark.sql.catalog.{catalog}.uri") or "").netloc
        if server:
            return DatasetName(f"unitycatalog://{server}", f"{catalog}.{database}.{name}")
    workspace = conf("spark.databricks.workspaceUrl")
    if workspace:  # Databricks: its catalogs are Unity Catalog's, served by the workspace
        return DatasetName(f"unitycatalog://{workspace}", f"{catalog}.{database}.{name}")
    metastore = conf("spark.hadoop.hive.metastore.uris") or ""
    if catalog == SESSION_CATALOG and metastore:
        server = urlsplit(metastore.split(",")[0]).netloc
        return DatasetName(f"hive://{server}", f"{database}.{name}")
    # The session catalog's own metastore has no address: the table by its files, its name
    # kept as a symlink in the catalog's namespace (the OpenLineage Spark integration's way).
    if location is None:
        return DatasetName(catalog, f"{database}.{name}")
    symlink = (conf("spark.sql.warehouse.dir") or catalog, f"{database}.{name}")
    return DatasetName(*dataset_id(location), symlink)


def job_namespace(parent: ParentRun | None, environ: Mapping[str, str] | None = None) -> str:
    """The namespace of rebalance's jobs: ``OPENLINEAGE_NAMESPACE``, else the parent run's
    (an Airflow task's), else ``default``.

    Example:
        >>> job_namespace(ParentRun("airflow", "rebalance.run", "0190-ab"), {})
        'airflow'
        >>> job_namespace(None, {})
        'default'
    """
    env = os.environ if environ is None else environ
    configured = env.get("OPENLINEAGE_NAMESPACE")
    if configured:
        return configured
    return parent.namespace if parent is not None else "default"


@dataclass(frozen=True)
class RunDatasets:
    """What a run reads and writes, as lineage names it."""

    source: SourceInfo
    source_df: DataFrame  # the rows read: their schema, their session
    output: Table  # a path or a catalog table
    mode: str  # error, overwrite or append


class LineageRun(Protocol):
    """One run's events: START, then COMPLETE or FAIL."""

    def start(self) -> None: ...

    def complete(self, written: Written, output_df: DataFrame) -> None: ...

    def fail(self, error: BaseException) -> None: ...
