"""One local Spark + Delta session for the whole suite, and small tables to rebalance."""

from __future__ import annotations

import atexit
import fcntl
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from class_archive import LONG_LIVED_FLAGS, SHORT_LIVED_FLAGS, driver_flags
from connect_server import ConnectServer, free_port
from process_cpu import CpuMeter, machine_cpu_seconds
from pyspark.sql import DataFrame, SparkSession
from s3_server import S3Server, spark_conf
from xdist.scheduler import LoadFileScheduling

from rebalance_lib.api import Written
from rebalance_lib.cli import run_configured
from rebalance_lib.config import load_config
from rebalance_lib.storage.session import build_session, s3a_package

# Settings for the suite's small tables, for this process and every Spark it starts (the CLI,
# spark-submit to the cluster, Airflow's tasks, the benchmark's children): a handful of
# partitions instead of Spark's 200 and Delta's 50 cuts a tiny Delta write from ~5 s to ~1 s
# on two cores. The product's own defaults are left as they are.
SMALL_TABLE_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}


# Spark's results depend on neither: expressions evaluated as they are, not compiled into Java
# classes the JIT must then compile too, and no whole-stage code generation, whose compiling of
# each query costs more than the query on these tables.
NO_CODEGEN_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def submit_options(*, short_lived: bool) -> str:
    """``SPARK_SUBMIT_OPTS`` for the drivers the suite starts: the small-table settings as
    system properties (Spark reads them as it reads spark-defaults.conf, below anything a run
    sets itself), the class archive when recorded (``class_archive.py``), and the JIT, the
    collector and code generation for a driver's life: drivers that live for seconds take the
    first JIT tier and generate no code (a small `rebalance run`: 15.9 -> 13.3 CPU-s); the
    Connect server lives for the whole suite, the full JIT and code generation pay there, and
    the Connect tests compare what it writes with what the suite's own session writes."""
    conf = SMALL_TABLE_CONF | NO_CODEGEN_CONF if short_lived else SMALL_TABLE_CONF
    properties = [f"-D{key}={value}" for key, value in conf.items()]
    flags = SHORT_LIVED_FLAGS if short_lived else LONG_LIVED_FLAGS
    return " ".join([*properties, *flags, *_ARCHIVE_FLAGS])


_ARCHIVE_FLAGS = driver_flags()  # found once: its name lists every JAR of Spark's


# Through the environment, so every spark-submit below this process gets them; not through a
# SPARK_CONF_DIR, whose folder on the class path would keep the JVM from the class archive.
os.environ.pop("SPARK_CONF_DIR", None)
os.environ["SPARK_SUBMIT_OPTS"] = submit_options(short_lived=True)
LONG_LIVED_ENV = {"SPARK_SUBMIT_OPTS": submit_options(short_lived=False)}
# The suite's own session runs hundreds of small queries without code generation too
# (test_api.py and test_real_tables.py: 158 s -> 123 s without whole-stage code generation;
# test_api, test_real_tables and test_report in one process: the JVM's CPU 165 -> 138 s
# without generated expressions). The Connect server keeps both, so the Connect tests compare
# the two.
# The S3 tests' server listens on a port chosen here, so the suite's one session can carry S3A
# (its JARs, fetched by `make setup-test`, and the endpoint) from its start; the server itself
# starts only in a worker whose tests ask for it (the `s3` fixture). S3A's JARs cost the
# session's start about 1.5 s; they are loaded only when an s3a:// path is touched.
S3_PORT = free_port()
S3_CONF = {"spark.jars.packages": s3a_package(), **spark_conf(S3_PORT)}
IN_PROCESS_CONF = {
    **SMALL_TABLE_CONF,
    **NO_CODEGEN_CONF,
    **S3_CONF,
}

# Binomial tolerance used by every count assertion: a correct sampler fails this bound
# about once in two million runs, a wrong fraction fails it at once.
SIGMAS = 5.0


# Modules that run whole services or many processes: `make test` runs modules in parallel
# (pytest-xdist, a module per worker at a time), so these go first and the rest fill around them.
_LONG_MARKS = ("airflow", "cluster", "bench")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes a Spark fixture needs a JVM; modules whose tests start Spark in a
    child process say so themselves (``pytestmark = pytest.mark.jvm``). Long modules first."""
    for item in items:
        if {"spark", "connect"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.jvm)

    def order(item: pytest.Item) -> int:
        declared = getattr(item.module, "pytestmark", [])  # type: ignore[attr-defined]  # pytest.Function has .module
        module_marks = {
            mark.name for mark in (declared if isinstance(declared, list) else [declared])
        }
        if module_marks & set(_LONG_MARKS):
            return 0
        return 1 if "jvm" in module_marks else 2

    items.sort(key=order)  # stable: each module's own order is kept


# Modules that share a costly session fixture run on one worker, so one copy serves them all:
# the Connect server (about 20 CPU seconds to start and warm) for both modules that need it.
_MODULE_GROUPS = {"tests/test_connect.py": "connect", "tests/test_ml_connect.py": "connect"}


class _ModuleGroupScheduling(LoadFileScheduling):
    """``--dist loadfile``, with the modules of a group handed to a worker together."""

    def _split_scope(self, nodeid: str) -> str:
        module = super()._split_scope(nodeid)
        return _MODULE_GROUPS.get(module, module)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LoadFileScheduling | None:
    if config.getvalue("dist") != "loadfile":
        return None
    return _ModuleGroupScheduling(config, log)  # type: ignore[arg-type]  # xdist's log Producer


# Where the suite's time goes: each module's tests, setup and teardown included, summed over
# the workers that ran them, printed at the end of every run of more than one module; in wall
# seconds, and in CPU seconds of the worker and every process it started (on two cores the
# suite's wall time follows the CPU it burns, not the seconds its workers wait).
_MODULE_SECONDS: dict[str, list[float]] = {}
_CPU_MARK = [0.0]
_MACHINE_CPU_AT_START = [0.0]
_CPU_METER: list[CpuMeter] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _MACHINE_CPU_AT_START[0] = machine_cpu_seconds()


def pytest_runtest_logstart() -> None:
    if not _CPU_METER:
        _CPU_METER.append(CpuMeter())  # in the process that runs the tests (a worker)
    _CPU_MARK[0] = _CPU_METER[0].seconds()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Iterator[None]:
    report = yield
    now = _CPU_METER[0].seconds()
    report.user_properties.append(("cpu_seconds", now - _CPU_MARK[0]))
    _CPU_MARK[0] = now
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    seconds = _MODULE_SECONDS.setdefault(report.nodeid.split("::")[0], [0.0, 0.0, 0.0])
    seconds[0] += report.duration
    seconds[1] += sum(value for name, value in report.user_properties if name == "cpu_seconds")
    seconds[2] += report.when == "call"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if len(_MODULE_SECONDS) < 2:
        return
    terminalreporter.section("seconds per test module (setup, calls, teardown)")
    terminalreporter.write_line("    wall      CPU  tests  module")
    for module, (wall, cpu, tests) in sorted(_MODULE_SECONDS.items(), key=lambda i: -i[1][1]):
        terminalreporter.write_line(f"{wall:8.1f} {cpu:8.1f} {int(tests):6d}  {module}")
    wall = sum(seconds[0] for seconds in _MODULE_SECONDS.values())
    cpu = sum(seconds[1] for seconds in _MODULE_SECONDS.values())
    machine = machine_cpu_seconds() - _MACHINE_CPU_AT_START[0]
    terminalreporter.write_line(
        f"{wall:8.1f} {cpu:8.1f}  in all, summed over the workers; the machine's CPU over the "
        f"run: {machine:.0f} s on {os.cpu_count()} cores"
    )


# A run that selected no `jvm` test (`make test-fast`, one pure module) must start no JVM: Java
# is replaced by a stand-in that notes each start, and the test that made one fails.
_NO_JVM_DIR = Path(tempfile.mkdtemp(prefix="rebalance-tests-no-jvm-"))
atexit.register(shutil.rmtree, _NO_JVM_DIR, True)
_JVM_STARTS = _NO_JVM_DIR / "starts"


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.get_closest_marker("jvm") for item in session.items):
        return
    stand_in = _NO_JVM_DIR / "bin" / "java"
    stand_in.parent.mkdir()
    stand_in.write_text(
        f'#!/bin/sh\necho "java $*" >>"{_JVM_STARTS}"\n'
        'echo "a test without the jvm mark started a JVM" >&2\nexit 1\n'
    )
    stand_in.chmod(0o755)
    os.environ["JAVA_HOME"] = str(_NO_JVM_DIR)
    os.environ["PATH"] = f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(autouse=True)
def _no_unmarked_jvm(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if _JVM_STARTS.exists():
        started = _JVM_STARTS.read_text().splitlines()
        _JVM_STARTS.unlink()
        pytest.fail(
            f"{request.node.nodeid} started a JVM ({started[0][:120]}...): it needs Spark, so "
            "mark it (pytestmark = pytest.mark.jvm, or take the spark fixture)"
        )


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    with pytest.MonkeyPatch.context() as launch:
        for name, value in LONG_LIVED_ENV.items():
            launch.setenv(name, value)  # read as the driver starts, then put back
        session = build_session("local[2]", "rebalance-tests", IN_PROCESS_CONF)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 API server (moto's), on the port the suite's session was given."""
    server = S3Server.start(tmp_path_factory.mktemp("s3-server"), S3_PORT)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A real Spark Connect server with Delta, started once for the suite and stopped after."""
    server = ConnectServer.start(
        tmp_path_factory.mktemp("connect-server"), SMALL_TABLE_CONF, env=LONG_LIVED_ENV
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def remote_session(connect_server: ConnectServer) -> Iterator[SparkSession]:
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    session = RemoteSparkSession.builder.remote(connect_server.url).getOrCreate()
    yield session
    session.stop()


@pytest.fixture
def connect(
    remote_session: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], AbstractContextManager[SparkSession]]:
    """``with connect() as remote:`` runs its block as a Spark Connect client would.

    pyspark builds Connect's columns, functions and observations instead of classic ones
    while a process-wide flag is set; a Connect-only process sets it once, this suite sets it
    for the block alone, so the classic session serves the rest of the test and suite.
    """

    @contextmanager
    def over_connect() -> Iterator[SparkSession]:
        with monkeypatch.context() as flag:
            flag.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
            yield remote_session

    return over_connect


def labelled_df(
    spark: SparkSession, rows: int, minority_rows: int, partitions: int = 4
) -> DataFrame:
    """``id``, ``label`` (exactly ``minority_rows`` ones) and one feature ``x``."""
    return (
        spark.range(0, rows, 1, partitions)
        .withColumn("label", (F.col("id") % (rows // minority_rows) == 0).cast("int"))
        .withColumn("x", (F.col("id") % 97).cast("double"))
    )


def write_delta(df: DataFrame, path: Path) -> str:
    df.write.format("delta").save(str(path))
    return str(path)


def run_rebalance(
    spark: SparkSession, source: str, output: Path | str, **settings: object
) -> Written:
    """`rebalance run` from ``source`` into ``output``; ``settings`` are dotted config keys."""
    overrides = {"input.source": source, "output.path": str(output), **settings}
    return run_configured(spark, load_config(overrides=overrides))


def delta_writes(spark: SparkSession, output: Path) -> list[tuple[int, int | None]]:
    """(source version, the commit it redoes) of each WRITE commit of a rebalanced table,
    oldest first, from the lineage each commit carries."""
    history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
    lineages = [
        json.loads(commit["userMetadata"])
        for commit in sorted(history, key=lambda commit: commit["version"])
        if commit["operation"] == "WRITE"
    ]
    return [(lineage["source_version"], lineage["redoes"]) for lineage in lineages]


def within_binomial_bound(kept: int, rows: int, keep_fraction: float) -> bool:
    expected = rows * keep_fraction
    sd = math.sqrt(rows * keep_fraction * (1 - keep_fraction))
    return abs(kept - expected) <= SIGMAS * sd


def build_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The project's wheel, as `make wheel` builds it, built once per test run and shared.

    Modules on different workers ask for it at the same time; setuptools builds in the source
    tree (its `build/` and egg-info), so two builds at once collide. The first asker builds
    under a lock in the run's shared temporary root; the others wait and reuse its wheel."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    dist = shared / "project-wheel"
    dist.mkdir(exist_ok=True)
    with (dist / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = sorted(dist.glob("spark_rebalance-*.whl"))
        if not built:
            project = Path(__file__).parents[1]
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
            made = subprocess.run(
                [*command, "--wheel-dir", str(dist), str(project)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert made.returncode == 0, f"pip wheel failed:\n{made.stdout}\n{made.stderr}"
            built = sorted(dist.glob("spark_rebalance-*.whl"))
    return str(built[0])


def start_writing(source: str, output: Path, *extra: str) -> subprocess.Popen[str]:
    """Start `rebalance run` (factor 1.01, one core, its own process group) and return once it
    has written a data file of its own into ``output``; its stderr is a pipe."""
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        "run",
        "--input",
        source,
        "--output",
        str(output),
        "--factor",
        "1.01",
        "--master",
        "local[1]",
        *extra,
    ]
    files_before = len(list(output.glob("part-*.parquet")))
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(list(output.glob("part-*.parquet"))) <= files_before:
        assert process.poll() is None, "the run ended before it wrote a data file"
        assert time.monotonic() < deadline, "no data file appeared within 300 s"
        time.sleep(0.05)
    return process
