"""OpenLineage run events: a START when a write begins, then a COMPLETE or a FAIL.

Configured only as the OpenLineage client is: ``OPENLINEAGE_URL`` (HTTP),
``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory or in
``~/.openlineage`` (any transport: file, Kafka, console...), ``OPENLINEAGE__...`` variables,
and ``OPENLINEAGE_DISABLED=true`` to turn it off. With none of them set, nothing is imported
and nothing is sent. The job's namespace is ``OPENLINEAGE_NAMESPACE`` (default
``default``); a parent run (an Airflow task) comes from ``OPENLINEAGE_PARENT_ID``
(``namespace/job_name/run_id``, as Airflow's OpenLineage macros render it) and
``OPENLINEAGE_ROOT_PARENT_ID``.

Datasets are named by the OpenLineage naming spec: a path by its scheme and authority
(``file`` for the local filesystem, ``s3://bucket``, ``hdfs://host:port``) and its path; a
catalog table by its name, in the namespace of the catalog's warehouse. A backend that is
down or refuses an event costs a warning line, never the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol
from urllib.parse import urlsplit

from pyspark.sql import DataFrame, SparkSession

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


def catalog_namespace(spark: SparkSession) -> str:
    """Where catalog tables are named: ``hive://host:port`` of a Hive metastore, else the
    warehouse's location (as the OpenLineage Spark integration names them)."""
    metastore = spark.conf.get("spark.hadoop.hive.metastore.uris", None) or ""
    if metastore:
        return "hive://" + urlsplit(metastore.split(",")[0]).netloc
    return spark.conf.get("spark.sql.warehouse.dir", None) or "spark_catalog"


def job_namespace() -> str:
    """The namespace of rebalance's jobs: ``OPENLINEAGE_NAMESPACE``, default ``default``."""
    return os.environ.get("OPENLINEAGE_NAMESPACE", "default")


@dataclass(frozen=True)
class RunDatasets:
    """What a run reads and writes, as lineage names it."""

    source: SourceInfo
    source_df: DataFrame  # the rows read: their schema, their session
    output: str  # a path
    mode: str  # error, overwrite or append


class LineageRun(Protocol):
    """One run's events: START, then COMPLETE or FAIL."""

    def start(self) -> None: ...

    def complete(self, written: Written, output_df: DataFrame) -> None: ...

    def fail(self, error: BaseException) -> None: ...
