"""One local Spark + Delta session for the whole suite, and small tables to rebalance."""

from __future__ import annotations

import atexit
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from connect_server import ConnectServer
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.api import Written
from rebalance_lib.cli import run_configured
from rebalance_lib.config import load_config
from rebalance_lib.storage.session import build_session

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
_SPARK_CONF_DIR = Path(tempfile.mkdtemp(prefix="rebalance-tests-conf-"))
(_SPARK_CONF_DIR / "spark-defaults.conf").write_text(
    "".join(f"{key} {value}\n" for key, value in SMALL_TABLE_CONF.items())
)
os.environ["SPARK_CONF_DIR"] = str(_SPARK_CONF_DIR)
atexit.register(shutil.rmtree, _SPARK_CONF_DIR, True)

# Binomial tolerance used by every count assertion: a correct sampler fails this bound
# about once in two million runs, a wrong fraction fails it at once.
SIGMAS = 5.0


# Test modules whose tests start Spark in a child process, not through the `spark` fixture.
_CHILD_SPARK_MODULES = {
    "test_airflow",
    "test_bench",
    "test_cli",
    "test_cluster",
    "test_install",
    "test_reliability",
    "test_session",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a JVM, so `make test-fast` can leave them out."""
    for item in items:
        uses_spark = bool({"spark", "connect"} & set(getattr(item, "fixturenames", ())))
        if uses_spark or item.module.__name__ in _CHILD_SPARK_MODULES:  # type: ignore[attr-defined]  # pytest.Function has .module
            item.add_marker(pytest.mark.jvm)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = build_session("local[2]", "rebalance-tests", SMALL_TABLE_CONF)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A real Spark Connect server with Delta, started once for the suite and stopped after."""
    server = ConnectServer.start(tmp_path_factory.mktemp("connect-server"), SMALL_TABLE_CONF)
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


def run_rebalance(spark: SparkSession, source: str, output: Path, **settings: object) -> Written:
    """`rebalance run` from ``source`` into ``output``; ``settings`` are dotted config keys."""
    overrides = {"input.source": source, "output.path": str(output), **settings}
    return run_configured(spark, load_config(overrides=overrides))


def within_binomial_bound(kept: int, rows: int, keep_fraction: float) -> bool:
    expected = rows * keep_fraction
    sd = math.sqrt(rows * keep_fraction * (1 - keep_fraction))
    return abs(kept - expected) <= SIGMAS * sd


def build_wheel(dist: Path) -> str:
    """Build the project's wheel into ``dist``, as `make wheel` does, and return its path."""
    project = Path(__file__).parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(dist),
            str(project),
        ],
        check=True,
        timeout=300,
    )
    return str(next(dist.glob("spark_rebalance-*.whl")))
