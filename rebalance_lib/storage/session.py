"""The only place a SparkSession is built: a local or submitted one with Delta configured,
or a Spark Connect client of a server that has Delta (``--remote``, ``SPARK_REMOTE``).

The one module of the package that may use what only a classic session has (the driver's
JVM, ``sparkContext``): starting a local session and its log level. Everything else runs
on either kind of session.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from types import FrameType

import pyspark
from pyspark.errors import PySparkException, PySparkRuntimeError
from pyspark.sql import SparkSession

from rebalance_lib.core.errors import EnvironmentSetupError
from rebalance_lib.storage.fs import client_is_driver

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
_TASKS_END_SECONDS = 30.0
_PY4J = "py4j"  # the package that carries a call to the driver's JVM
# Settings a Connect server takes only when it starts (or never from a client): left out of a
# remote session's settings rather than refused one by one.
_SERVER_ONLY_PREFIXES = (
    "spark.jars",
    "spark.driver.",
    "spark.executor.",
    "spark.master",
    "spark.ui.",
    "spark.sql.extensions",
    "spark.sql.catalog.",
    "spark.sql.warehouse.dir",
    "spark.databricks.delta.snapshotPartitions",
)
# Spark's stage progress bar: on a terminal only; in a scheduler's log it is noise.
PROGRESS_CONF = {"spark.ui.showConsoleProgress": str(sys.stderr.isatty()).lower()}
LOG4J2_CONF = Path(__file__).parent / "conf" / "log4j2.properties"

log = logging.getLogger(__name__)


def delta_package() -> str:
    """The Maven coordinate of the Delta JAR matching the installed pyspark and delta-spark."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def launched_by_spark_submit() -> bool:
    """True inside ``spark-submit``, which has already chosen the master and resolved --packages."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def remote_url(remote: str | None) -> str | None:
    """The Spark Connect server to use: ``remote`` if given, else ``SPARK_REMOTE`` (as pyspark
    itself reads it), else None for a classic session."""
    return remote or os.environ.get("SPARK_REMOTE") or None


def build_session(
    master: str = "local[*]",
    app_name: str = "rebalance",
    conf: Mapping[str, str] | None = None,
    remote: str | None = None,
) -> SparkSession:
    """Build (or join) a SparkSession with Delta configured.

    With ``remote`` (``sc://HOST:PORT``) or ``SPARK_REMOTE`` set, a Spark Connect session of
    that server, which must have Delta; only the settings a client may change are sent.

    Under spark-submit the master and packages come from the command line. Locally, the
    first start fetches Delta's JARs into the Ivy cache and notes their paths; later starts
    load those files directly, with no resolution and no resolver report. Spark logs
    warnings only (``conf/log4j2.properties``).
    """
    url = remote_url(remote)
    if url is not None:
        return _connect_session(url, app_name, conf or {})
    local = not launched_by_spark_submit()
    local_defaults: dict[str, str] = {}
    if local:
        # The session catalog lives in memory: a warehouse folder in the working directory
        # would only be litter. A cluster's own settings are never replaced.
        local_defaults["spark.sql.warehouse.dir"] = _scratch_warehouse()
        local_defaults["spark.driver.extraJavaOptions"] = (
            f"-Dlog4j2.configurationFile={LOG4J2_CONF}"
        )
        # Delta rebuilds a table's state from its log in this many tasks (default 50, sized
        # for a cluster): on a local master one per core, which halves a cold first read.
        local_defaults["spark.databricks.delta.snapshotPartitions"] = str(_cores(master))
        cached = cached_delta_jars()
        if cached:
            local_defaults["spark.jars"] = ",".join(cached)
        else:
            log.info("fetching Delta's JARs (%s) once into the local Ivy cache", delta_package())
            local_defaults["spark.jars.packages"] = delta_package()
    builder = SparkSession.builder.appName(app_name)
    for key, value in {**DELTA_CONF, **PROGRESS_CONF, **local_defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    if local:
        builder = builder.master(master)
    try:
        spark = builder.getOrCreate()
    except PySparkRuntimeError as error:
        raise EnvironmentSetupError(
            f"Spark could not start with Delta's JAR {delta_package()} ({error.getCondition()}): "
            "run `make setup` with access to Maven Central, and check that Java 17 is installed"
        ) from None
    if local and "spark.jars.packages" in local_defaults:
        _note_delta_jars(spark.conf.get("spark.jars") or "")
    set_log_level(spark, os.environ.get("REBALANCE_SPARK_LOG_LEVEL", "WARN"))
    return spark


def _connect_session(url: str, app_name: str, conf: Mapping[str, str]) -> SparkSession:
    sent = {key: value for key, value in conf.items() if not key.startswith(_SERVER_ONLY_PREFIXES)}
    left_out = sorted(set(conf) - set(sent))
    if left_out:
        log.debug("not sent to the Connect server (its own settings): %s", ", ".join(left_out))
    builder = SparkSession.builder.remote(url).appName(app_name)
    for key, value in sent.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except PySparkException as error:
        raise EnvironmentSetupError(
            f"cannot reach the Spark Connect server {url} ({error.getCondition()}): start it, "
            "or check --remote / SPARK_REMOTE"
        ) from None


def set_log_level(spark: SparkSession, level: str) -> None:
    """The driver's log level, on a classic session (a Connect server keeps its own)."""
    if client_is_driver(spark):
        spark.sparkContext.setLogLevel(level)


def cancel_jobs_quietly(spark: SparkSession) -> None:
    """Cancel the session's running jobs, from any thread, with nothing more from the driver's
    log: every cancelled task logs an error, some from loggers with levels of their own (not
    the root's, which ``setLogLevel`` sets). A classic session's ``interruptAll`` leaves the
    jobs of DataFrame actions running; its context cancels them."""
    if client_is_driver(spark):
        log4j = spark._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
        log4j.core.config.Configurator.setAllLevels("", log4j.Level.OFF)
        spark.sparkContext.cancelAllJobs()
        _wait_for_tasks_to_end(spark)
    else:
        spark.interruptAll()


def _wait_for_tasks_to_end(spark: SparkSession) -> None:
    """Wait (a while at most) until no task runs: a cancelled job's tasks end a little after
    it, and one still writing would put a file back in a folder its run then removes."""
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + _TASKS_END_SECONDS
    while time.monotonic() < deadline:
        executors = tracker.getExecutorInfos()
        if not any(executor.numRunningTasks() for executor in executors):
            return
        time.sleep(0.05)


def in_jvm_call(frame: FrameType | None) -> bool:
    """Whether the thread at this frame is inside a call to the driver's JVM (py4j's code)."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").partition(".")[0] == _PY4J:
            return True
        frame = frame.f_back
    return False


def _jar_manifest() -> Path:
    """Where the local paths of Delta's resolved JARs are noted, per Delta coordinate."""
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "rebalance" / f"jars-{delta_package().replace(':', '_')}.txt"


def cached_delta_jars() -> list[str]:
    """The local JAR files a previous start resolved for this Delta, if all still exist."""
    try:
        jars = _jar_manifest().read_text().split()
    except OSError:
        return []
    paths = [jar.removeprefix("file://") for jar in jars]
    return jars if jars and all(Path(path).is_file() for path in paths) else []


def _note_delta_jars(spark_jars: str) -> None:
    """Note the JARs a start resolved, for the next start (best effort: a cache only)."""
    jars = [jar for jar in spark_jars.split(",") if jar.endswith(".jar")]
    if not any("delta-spark" in jar for jar in jars):
        return
    manifest = _jar_manifest()
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        partial = manifest.with_suffix(".partial")
        partial.write_text("\n".join(jars) + "\n")
        partial.replace(manifest)
    except OSError as error:
        log.debug("cannot note Delta's JARs in %s: %s", manifest, error)


def _cores(local_master: str) -> int:
    """The cores of ``local``, ``local[N]``, ``local[N,retries]`` or ``local[*]``."""
    inside = local_master.removeprefix("local").strip("[]").split(",")[0]
    if inside.isdigit():
        return max(1, int(inside))
    return 1 if not inside else os.cpu_count() or 1


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
