"""The only place a SparkSession is built: a local or submitted one with Delta configured,
or a Spark Connect client of a server that has Delta (``--remote``, ``SPARK_REMOTE``).

The one module of the package that may use what only a classic session has (the driver's
JVM, ``sparkContext``): starting a local session and its log level. Everything else runs
on either kind of session.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import pyspark
from pyspark.errors import PySparkException, PySparkRuntimeError
from pyspark.find_spark_home import _find_spark_home
from pyspark.sql import SparkSession

from rebalance_lib.core import versions
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
    """The Maven coordinate of Delta's JAR for the running pyspark (``pyspark.__version__``,
    which a pyspark that came with Spark has as well as one from pip)."""
    package = versions.delta_package(pyspark.__version__)
    if package is None:
        raise EnvironmentSetupError(versions.no_delta_for(pyspark.__version__))
    return package


def s3a_package() -> str:
    """The Maven coordinate of S3A for the Hadoop inside the running Spark (the version of its
    ``hadoop-client-api`` JAR: pyspark's own, or ``SPARK_HOME``'s where pyspark came with Spark)."""
    jars = Path(_find_spark_home()) / "jars"
    found = sorted(jars.glob("hadoop-client-api-*.jar"))
    if not found:
        raise EnvironmentSetupError(
            f"cannot tell which Hadoop the Spark at {jars.parent} has (no hadoop-client-api JAR "
            "in jars/): name S3A's JAR yourself with "
            "spark.jars.packages=org.apache.hadoop:hadoop-aws:<that Hadoop's version>"
        )
    hadoop_version = found[0].name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    return versions.hadoop_aws_package(hadoop_version)


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
    given = dict(conf or {})
    local = not launched_by_spark_submit()
    local_defaults: dict[str, str] = {}
    jar_request: list[str] = []
    own_jars: list[str] = []
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
        # The caller's packages and JARs join Delta's rather than replace them.
        jar_request = _jar_request(given)
        own_jars = _split(given.pop("spark.jars", None))
        given.pop("spark.jars.packages", None)
        local_defaults.update(_jar_settings(jar_request, own_jars))
    builder = SparkSession.builder.appName(app_name)
    for key, value in {**DELTA_CONF, **PROGRESS_CONF, **local_defaults, **given}.items():
        builder = builder.config(key, value)
    if local:
        builder = builder.master(master)
    try:
        spark = builder.getOrCreate()
    except PySparkRuntimeError as error:
        raise EnvironmentSetupError(
            f"Spark could not start with {_describe(jar_request or [delta_package()])} "
            f"({error.getCondition()}): run `make setup` with access to Maven Central, and "
            "check that Java 17 is installed"
        ) from None
    if "spark.jars.packages" in local_defaults:
        _note_resolved_jars(jar_request, spark.conf.get("spark.jars") or "", own_jars)
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


def _split(setting: str | None) -> list[str]:
    return [item.strip() for item in (setting or "").split(",") if item.strip()]


def _jar_request(conf: Mapping[str, str]) -> list[str]:
    """The Maven coordinates a local start asks for: Delta's (unless the caller names a Delta
    JAR of its own) and the caller's ``spark.jars.packages``, in that order."""
    packages = _split(conf.get("spark.jars.packages"))
    if any(package.startswith("io.delta:delta-spark") for package in packages):
        return packages
    return [delta_package(), *packages]


def _jar_settings(request: list[str], own_jars: list[str]) -> dict[str, str]:
    """``spark.jars`` / ``spark.jars.packages`` for a local start: the files a start with the
    same request resolved, loaded directly, else the whole request for Ivy to resolve; the
    caller's own ``spark.jars`` beside them either way."""
    cached = cached_jars(request)
    if cached:
        return {"spark.jars": ",".join([*cached, *own_jars])}
    log.info("fetching %s once into the local Ivy cache", _describe(request))
    settings = {"spark.jars.packages": ",".join(request)}
    if own_jars:
        settings["spark.jars"] = ",".join(own_jars)
    return settings


def _describe(request: list[str]) -> str:
    extra = len(request) - 1
    return f"Delta's JARs ({request[0]})" + (f" and {extra} more package(s)" if extra else "")


def _jar_manifest(request: list[str]) -> Path:
    """Where the local files a start resolved for this request are noted: one file per
    request (Delta's coordinate and the caller's packages), so one run's extra JARs never
    reach a run that did not ask for them."""
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = request[0].replace(":", "_")
    if len(request) > 1:
        key += "+" + hashlib.sha256(",".join(sorted(request[1:])).encode()).hexdigest()[:16]
    return cache_home / "rebalance" / f"jars-{key}.txt"


def cached_jars(request: list[str]) -> list[str]:
    """The local JAR files a previous start resolved for this request, if all still exist."""
    try:
        jars = _jar_manifest(request).read_text().split()
    except OSError:
        return []
    paths = [jar.removeprefix("file://") for jar in jars]
    return jars if jars and all(Path(path).is_file() for path in paths) else []


def cached_delta_jars() -> list[str]:
    """The local JAR files a previous start resolved for Delta alone, if all still exist."""
    return cached_jars([delta_package()])


def _note_resolved_jars(request: list[str], spark_jars: str, own_jars: list[str]) -> None:
    """Note the JARs a start resolved for ``request`` (not the caller's own ``spark.jars``),
    for the next start with the same request (best effort: a cache only)."""
    own_names = {Path(jar).name for jar in own_jars}  # Spark may rewrite them as file: URIs
    jars = [
        jar
        for jar in _split(spark_jars)
        if jar.endswith(".jar") and Path(jar).name not in own_names
    ]
    if not any("delta-spark" in jar for jar in jars):
        return
    manifest = _jar_manifest(request)
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        partial = manifest.with_suffix(".partial")
        partial.write_text("\n".join(jars) + "\n")
        partial.replace(manifest)
    except OSError as error:
        log.debug("cannot note the resolved JARs in %s: %s", manifest, error)


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


def warm_jar_cache(log_path: Path, packages: list[str] | None = None) -> None:
    """Fetch Delta's JARs, and ``packages`` (Maven coordinates) with them, into the local Ivy
    cache by starting Spark once in a child process; later starts with the same packages load
    those files directly. When a start has noted every file of this request and each is still
    there, nothing needs fetching and no Spark starts (a second `make setup` or `make demo`
    saves a Spark start of about 10 s).

    The child's Ivy and Spark output goes to ``log_path``; failure raises one clear error.
    """
    extra = ",".join(packages or [])
    if cached_jars(_jar_request({"spark.jars.packages": extra})):  # the probe's own request
        return
    probe = (
        "from rebalance_lib.storage.session import build_session; "
        "build_session('local[1]', 'rebalance-warm', "
        f"{{'spark.ui.enabled': 'false', 'spark.jars.packages': {extra!r}}}).stop()"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        finished = subprocess.run(
            [sys.executable, "-c", probe], stdout=log, stderr=log, check=False
        )
    if finished.returncode != 0:
        wanted = f"Delta's JARs ({delta_package()})" + "".join(f" and {p}" for p in packages or [])
        raise EnvironmentSetupError(
            f"cannot fetch {wanted} from Maven Central: check network and proxy "
            f"access to Maven Central, then run `make setup` again (log: {log_path})"
        )
