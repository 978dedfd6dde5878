"""spark-submit to a real standalone cluster (1 master, 2 workers), and a worker killed mid-run.

The driver is set up as a cluster's is: its Python has the wheel's own dependencies, and pyspark
comes with Spark (its zips on PYTHONPATH, no package metadata), not from pip.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyspark
import pytest
from class_archive import SHORT_LIVED_FLAGS, driver_flags
from conftest import (
    S3_CONF,
    build_wheel,
    labelled_df,
    run_rebalance,
    within_binomial_bound,
    write_delta,
)
from pyspark.sql import SparkSession
from s3_server import S3Server

from rebalance_lib.report.model import Report
from rebalance_lib.storage.session import (
    cached_delta_jars,
    cached_jars,
    delta_package,
    s3a_package,
)

pytestmark = [pytest.mark.jvm, pytest.mark.cluster]

PROJECT = Path(__file__).parents[1]
CONSTRAINTS = PROJECT / "constraints.txt"
SPARK_HOME = str(Path(pyspark.__file__).parent)  # pip's pyspark is laid out as Spark is
# Enough rows that the write outlasts a worker's kill: 16 tasks on 2 one-core workers, the
# kill as the first task's file appears, 15 tasks (about seven rounds of each worker) to go.
ROWS, MINORITY_ROWS, FACTOR = 400_000, 4_000, 10.0
# The cluster's daemons and executors live for one module on small tables: the first JIT
# tier and the serial collector, as the suite's short-lived drivers have (SHORT_LIVED_FLAGS),
# and the drivers' class archive where recorded: their class path is Spark's JARs, as the
# drivers' is, and most of the classes they load are the ones a local driver loaded.
SHORT_LIVED_JVM = " ".join((*SHORT_LIVED_FLAGS, *driver_flags()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    run_dir = tmp_path_factory.mktemp("cluster")
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "PYTHON": sys.executable,
        "MASTER_PORT": "7077",
        "SPARK_DAEMON_JAVA_OPTS": SHORT_LIVED_JVM,
    }
    script = str(PROJECT / "scripts" / "local_cluster.sh")
    try:
        started = subprocess.run(
            [script, "start"], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert started.returncode == 0, started.stderr
        yield {"master": started.stdout.strip(), "run_dir": str(run_dir)}
    finally:
        subprocess.run([script, "stop"], env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, wheel: str) -> dict[str, str]:
    """The driver's environment (its Python is ``PYSPARK_DRIVER_PYTHON``): a venv with the
    wheel's declared dependencies but pyspark, which comes from the zips Spark ships
    (``python/lib``), with no dist-info."""
    venv = tmp_path_factory.mktemp("driver") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    needs = [need for need in wheel_requirements(wheel) if not need.startswith("pyspark")]
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--constraint", str(CONSTRAINTS), *needs],
        check=True,
        timeout=600,
    )
    spark_python = Path(SPARK_HOME) / "python" / "lib"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(path) for path in sorted(spark_python.glob("*.zip"))),
        "PYSPARK_PYTHON": python,
        "PYSPARK_DRIVER_PYTHON": python,
        "SPARK_HOME": SPARK_HOME,
    }
    return env


def wheel_requirements(wheel: str) -> list[str]:
    """The wheel's declared dependencies (its ``Requires-Dist`` lines that no extra marks)."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return [
        line.removeprefix("Requires-Dist: ")
        for line in lines
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]


def test_the_driver_has_no_package_metadata_for_pyspark_or_delta(driver: dict[str, str]) -> None:
    probe = (
        "import importlib.metadata as m, pyspark\n"
        "for name in ('pyspark', 'delta-spark'):\n"
        "    try:\n"
        "        m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        print(name, 'has no metadata')\n"
        "print('pyspark', pyspark.__version__, 'from', pyspark.__file__)\n"
    )
    found = subprocess.run(
        [driver["PYSPARK_DRIVER_PYTHON"], "-c", probe],
        env=driver,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = found.stdout.splitlines()
    assert lines[:2] == ["pyspark has no metadata", "delta-spark has no metadata"]
    assert lines[2].startswith(f"pyspark {importlib.metadata.version('pyspark')} from ")
    assert "pyspark.zip" in lines[2]


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    source_df = labelled_df(spark, ROWS, MINORITY_ROWS, partitions=16)
    return write_delta(source_df, tmp_path_factory.mktemp("cluster-src") / "src")


def submit(
    master: str,
    wheel: str,
    driver: dict[str, str],
    *job_args: str,
    options: Sequence[str] = (),
) -> subprocess.Popen[str]:
    """spark-submit the job with these arguments (``options`` are spark-submit's own), from
    the cluster-like driver."""
    command = [
        str(Path(SPARK_HOME) / "bin" / "spark-submit"),
        "--master",
        master,
        "--packages",
        delta_package(),
        "--py-files",
        wheel,
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.executor.extraJavaOptions={SHORT_LIVED_JVM}",
        *options,
        str(PROJECT / "jobs" / "rebalance_job.py"),
        *job_args,
    ]
    return subprocess.Popen(
        command, env=driver, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_args(source: str, output: Path) -> list[str]:
    """``run``: rebalance ``source`` into ``output`` by FACTOR."""
    config = ["--config", str(PROJECT / "conf" / "default.yaml")]
    return ["run", *config, "--input", source, "--output", str(output), "--factor", str(FACTOR)]


def test_the_job_names_its_versions_and_plans_on_the_cluster(
    cluster: dict[str, str], wheel: str, driver: dict[str, str], source: str
) -> None:
    named = submit(cluster["master"], wheel, driver, "--version")
    stdout, stderr = named.communicate(timeout=300)
    assert named.returncode == 0, stderr[-3000:]
    assert stdout.strip() == (
        f"spark-rebalance {importlib.metadata.version('spark-rebalance')} (pyspark "
        f"{importlib.metadata.version('pyspark')}, Delta JAR {delta_package()})"
    )
    planned = submit(
        cluster["master"], wheel, driver, "plan", "--input", source, "--factor", str(FACTOR)
    )
    stdout, stderr = planned.communicate(timeout=600)
    assert planned.returncode == 0, stderr[-3000:]
    assert f"{ROWS - MINORITY_ROWS:,}" in stdout and f"{MINORITY_ROWS:,}" in stdout


def kept_ids(spark: SparkSession, output: Path) -> set[int]:
    return {
        row["id"] for row in spark.read.format("delta").load(str(output)).select("id").collect()
    }


@pytest.fixture(scope="module")
def undisturbed(
    cluster: dict[str, str],
    wheel: str,
    driver: dict[str, str],
    source: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    output = tmp_path_factory.mktemp("cluster-out") / "out"
    job = submit(cluster["master"], wheel, driver, *run_args(source, output))
    _, stderr = job.communicate(timeout=900)
    assert job.returncode == 0, stderr[-3000:]
    return output


def test_job_submitted_to_the_cluster_gives_the_same_guarantees(
    spark: SparkSession, undisturbed: Path
) -> None:
    report = Report.model_validate_json(
        (undisturbed / "_rebalance_report" / "report.json").read_text()
    )
    assert report.spark_app_id.startswith("app-")  # a standalone application, not local[*]
    output_df = spark.read.format("delta").load(str(undisturbed))
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    assert counts[1] == MINORITY_ROWS
    assert within_binomial_bound(counts[0], ROWS - MINORITY_ROWS, 1 / FACTOR), counts
    weights = {
        (r["label"], r["weight"]) for r in output_df.select("label", "weight").distinct().collect()
    }
    assert weights == {(0, FACTOR), (1, 1.0)}
    assert report.bias_check.verdict == "PASS"


def test_killing_a_worker_mid_write_changes_nothing(
    spark: SparkSession,
    cluster: dict[str, str],
    wheel: str,
    driver: dict[str, str],
    source: str,
    undisturbed: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "out"
    job = submit(cluster["master"], wheel, driver, *run_args(source, output))
    deadline = time.monotonic() + 600
    while not list(output.glob("part-*.parquet")):
        assert job.poll() is None, "the job ended before it wrote a data file"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker_pid = int((Path(cluster["run_dir"]) / "worker-1.pid").read_text())
    os.kill(worker_pid, signal.SIGKILL)
    _, stderr = job.communicate(timeout=900)
    assert job.returncode == 0, stderr[-3000:]
    assert re.search(r"Lost (executor|task)", stderr), "the driver never saw the worker go"
    assert kept_ids(spark, output) == kept_ids(spark, undisturbed)


def test_a_run_on_s3_on_the_cluster_keeps_the_rows_of_the_same_run_here(
    spark: SparkSession,
    cluster: dict[str, str],
    wheel: str,
    driver: dict[str, str],
    s3: S3Server,
) -> None:
    """The job on the cluster reads and writes S3 through S3A; the hash sampler keeps the
    rows the same run keeps in this process, and the report is an object by its key. S3A's
    JARs are on every node already, as in an image (`--jars local:...`, the files `rebalance
    warm-jars --s3a` fetched): sent from the driver, each executor would copy 690 MB."""
    for bucket in ("cluster-raw", "cluster-curated"):
        s3.make_bucket(bucket)
    source = "s3a://cluster-raw/events"
    labelled_df(spark, 20_000, 400).write.format("delta").save(source)
    s3a_jars = set(cached_jars([delta_package(), s3a_package()])) - set(cached_delta_jars())
    assert s3a_jars, "S3A's JARs are not in the local cache: run `make setup-test`"
    options = ["--jars", ",".join(f"local:{jar.removeprefix('file://')}" for jar in s3a_jars)]
    for key, value in S3_CONF.items():
        if key != "spark.jars.packages":
            options += ["--conf", f"{key}={value}"]
    output = "s3a://cluster-curated/events"
    hashed = ["--factor", "5", "--sampler", "hash", "--sample-key", "id"]
    job = submit(
        cluster["master"],
        wheel,
        driver,
        *["run", "--input", source, "--output", output, *hashed],
        options=options,
    )
    _, stderr = job.communicate(timeout=900)
    assert job.returncode == 0, stderr[-3000:]
    report = Report.model_validate_json(
        s3.get("cluster-curated", "events/_rebalance_report/report.json")
    )
    assert report.spark_app_id.startswith("app-") and report.checks_passed
    here = run_rebalance(
        spark,
        source,
        "s3a://cluster-curated/here",
        **{"target.factor": 5, "sample.method": "hash", "sample.key": ["id"]},
    )
    assert here.report is not None and here.report.output.rows == report.output.rows
    on_cluster_df = spark.read.format("delta").load(output).drop("weight")
    here_df = spark.read.format("delta").load("s3a://cluster-curated/here").drop("weight")
    assert on_cluster_df.exceptAll(here_df).count() == 0 == here_df.exceptAll(on_cluster_df).count()
