"""The only place a SparkSession is built, with Delta Lake configured."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

import pyspark
from pyspark.errors import PySparkRuntimeError
from pyspark.sql import SparkSession

from rebalance_lib.core.errors import EnvironmentSetupError

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# Shown while a stage runs, so a long job is never silent.
PROGRESS_CONF = {"spark.ui.showConsoleProgress": "true"}


def delta_package() -> str:
    """The Maven coordinate of the Delta JAR matching the installed pyspark and delta-spark."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def launched_by_spark_submit() -> bool:
    """True inside ``spark-submit``, which has already chosen the master and resolved --packages."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(
    master: str = "local[*]", app_name: str = "rebalance", conf: Mapping[str, str] | None = None
) -> SparkSession:
    """Build (or join) a SparkSession with Delta configured.

    Under spark-submit the master and packages come from the command line; locally, the
    Delta JAR is fetched once into the Ivy cache and reused.
    """
    local = not launched_by_spark_submit()
    # Locally the session catalog lives in memory, so a warehouse folder in the working
    # directory would only be litter; a cluster's own setting is never replaced.
    local_defaults = {"spark.sql.warehouse.dir": _scratch_warehouse()} if local else {}
    builder = SparkSession.builder.appName(app_name)
    for key, value in {**DELTA_CONF, **PROGRESS_CONF, **local_defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    if local:
        builder = builder.master(master).config("spark.jars.packages", delta_package())
    try:
        return builder.getOrCreate()
    except PySparkRuntimeError as error:
        raise EnvironmentSetupError(
            f"Spark could not start with Delta's JAR {delta_package()} ({error.getCondition()}): "
            "run `make setup` with access to Maven Central, and check that Java 17 is installed"
        ) from None


def _scratch_warehouse() -> str:
    """A warehouse folder of this process's own, removed when it exits."""
    folder = tempfile.mkdtemp(prefix="rebalance-warehouse-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def warm_jar_cache(log_path: Path) -> None:
    """Fetch Delta's JARs into the local Ivy cache by starting Spark once in a child process.

    The child's Ivy and Spark output goes to ``log_path``; failure raises one clear error.
    """
    probe = (
        "from rebalance_lib.storage.session import build_session; "
        "build_session('local[1]', 'rebalance-warm', {'spark.ui.enabled': 'false'}).stop()"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        finished = subprocess.run(
            [sys.executable, "-c", probe], stdout=log, stderr=log, check=False
        )
    if finished.returncode != 0:
        raise EnvironmentSetupError(
            f"cannot fetch Delta's JARs ({delta_package()}) from Maven Central: check network "
            f"and proxy access to Maven Central, then run `make setup` again (log: {log_path})"
        )
