"""spark-submit to a real standalone cluster (1 master, 2 workers), and a worker killed mid-run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build_wheel, labelled_df, within_binomial_bound, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.report.model import Report
from rebalance_lib.storage.session import delta_package

pytestmark = pytest.mark.cluster

PROJECT = Path(__file__).parents[1]
ROWS, MINORITY_ROWS, FACTOR = 3_000_000, 30_000, 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    run_dir = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "RUN_DIR": str(run_dir), "PYTHON": sys.executable, "MASTER_PORT": "7077"}
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
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    source_df = labelled_df(spark, ROWS, MINORITY_ROWS, partitions=16)
    return write_delta(source_df, tmp_path_factory.mktemp("cluster-src") / "src")


def submit(master: str, wheel: str, source: str, output: Path) -> subprocess.Popen[str]:
    """spark-submit the job: rebalance ``source`` into ``output`` by FACTOR."""
    job_args = ["--input", source, "--output", str(output), "--factor", str(FACTOR)]
    command = [
        str(Path(sys.executable).with_name("spark-submit")),
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
        str(PROJECT / "jobs" / "rebalance_job.py"),
        "run",
        "--config",
        str(PROJECT / "conf" / "default.yaml"),
        *job_args,
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def kept_ids(spark: SparkSession, output: Path) -> set[int]:
    return {
        row["id"] for row in spark.read.format("delta").load(str(output)).select("id").collect()
    }


@pytest.fixture(scope="module")
def undisturbed(
    cluster: dict[str, str], wheel: str, source: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    output = tmp_path_factory.mktemp("cluster-out") / "out"
    job = submit(cluster["master"], wheel, source, output)
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
    source: str,
    undisturbed: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "out"
    job = submit(cluster["master"], wheel, source, output)
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
