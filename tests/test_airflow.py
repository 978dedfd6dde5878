"""The Airflow DAG, run for real from its own virtualenv against the main env's spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_wheel, labelled_df, within_binomial_bound, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.report.model import Report

pytestmark = pytest.mark.airflow

PROJECT = Path(__file__).parents[1]
AIRFLOW_BIN = PROJECT / ".venv-airflow" / "bin"
LOGICAL_DATE = "2026-11-23"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    assert (AIRFLOW_BIN / "airflow").exists(), "no .venv-airflow: run `make airflow-env`"
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "REBALANCE_WHEEL": build_wheel(tmp_path_factory.mktemp("dist")),
        "REBALANCE_PYSPARK_PYTHON": sys.executable,
        # The main env's spark-submit, found first on PATH by the Spark provider.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    migrated = subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return env


def test_dag_imports_without_errors(airflow_env: dict[str, str]) -> None:
    probe = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(PROJECT / 'dags')!r}); dag = bag.get_dag('rebalance'); "
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, "
        "'tasks': sorted(dag.task_ids), 'retries': [t.retries for t in dag.tasks], "
        "'upstream_of_run': sorted(dag.get_task('run').upstream_task_ids)}))"
    )
    loaded = subprocess.run(
        [str(AIRFLOW_BIN / "python"), "-c", probe],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    facts = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert facts == {
        "errors": {},
        "tasks": ["plan", "run"],
        "retries": [2, 2],
        "upstream_of_run": ["plan"],
    }


def test_dag_test_runs_plan_and_run_and_writes_the_delta_output(
    spark: SparkSession, airflow_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 200_000, 2_000), tmp_path / "events")
    conf = {"input": source, "output": str(tmp_path / "rebalanced"), "factor": 5.0}
    finished = subprocess.run(
        [
            str(AIRFLOW_BIN / "airflow"),
            "dags",
            "test",
            "rebalance",
            LOGICAL_DATE,
            "-c",
            json.dumps(conf),
        ],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert finished.returncode == 0, (finished.stdout + finished.stderr)[-3000:]
    assert "state=success" in finished.stdout + finished.stderr
    output = tmp_path / "rebalanced" / f"ds={LOGICAL_DATE}"
    output_df = spark.read.format("delta").load(str(output))
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    assert counts[1] == 2_000
    assert within_binomial_bound(counts[0], 198_000, 1 / 5), counts
    report = Report.model_validate_json((output / "_rebalance_report" / "report.json").read_text())
    assert report.bias_check.verdict == "PASS"
    assert report.run_id.startswith("manual__")  # Airflow's run id is the idempotence key
