"""The Airflow DAG, run for real from its own virtualenv against the main env's spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import build_wheel, labelled_df, within_binomial_bound, write_delta
from lineage_schemas import validate_event
from pyspark.sql import SparkSession

from rebalance_lib.report.model import Report

pytestmark = [pytest.mark.jvm, pytest.mark.airflow]

PROJECT = Path(__file__).parents[1]
AIRFLOW_BIN = PROJECT / ".venv-airflow" / "bin"
LOGICAL_DATE = "2026-11-23"


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The DAGs' input and output Assets: deployment settings, read when a DAG is parsed."""
    folder = tmp_path_factory.mktemp("tables")
    return folder / "events", folder / "events_rebalanced"


@pytest.fixture(scope="module")
def lineage_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Airflow's own OpenLineage events and the job's, each to its own file."""
    folder = tmp_path_factory.mktemp("lineage")
    return folder / "airflow.jsonl", folder / "job.jsonl"


@pytest.fixture(scope="module")
def airflow_env(
    tmp_path_factory: pytest.TempPathFactory,
    tables: tuple[Path, Path],
    lineage_files: tuple[Path, Path],
) -> dict[str, str]:
    assert (AIRFLOW_BIN / "airflow").exists(), "no .venv-airflow: run `make airflow-env`"
    home = tmp_path_factory.mktemp("airflow-home")
    airflow_events, job_events = lineage_files
    job_lineage = home / "openlineage.yml"
    job_lineage.write_text(
        f"transport:\n  type: file\n  log_file_path: {job_events}\n  append: true\n"
    )
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env = {
        **inherited,
        "REBALANCE_INPUT": str(tables[0]),
        "REBALANCE_OUTPUT": str(tables[1]),
        # Airflow's provider: on, to a file; it passes the task's run to the job as parent.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(airflow_events), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "airflow-tests",
        # The job's own client, configured the standard way.
        "OPENLINEAGE_CONFIG": str(job_lineage),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "REBALANCE_WHEEL": build_wheel(tmp_path_factory),
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


def airflow_python(airflow_env: dict[str, str], code: str) -> dict[str, object]:
    """Run ``code`` in Airflow's own Python; it prints one JSON line, returned parsed.

    The DAGs folder is on the path, as Airflow itself puts it there for DAG files.
    """
    finished = subprocess.run(
        [str(AIRFLOW_BIN / "python"), "-c", code],
        env={**airflow_env, "PYTHONPATH": str(PROJECT / "dags")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    parsed: dict[str, object] = json.loads(finished.stdout.strip().splitlines()[-1])
    return parsed


def dags_test(airflow_env: dict[str, str], dag_id: str, conf: dict[str, object]) -> None:
    finished = subprocess.run(
        [
            str(AIRFLOW_BIN / "airflow"),
            "dags",
            "test",
            dag_id,
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
    said = finished.stdout + finished.stderr
    assert finished.returncode == 0, said[-3000:]
    assert "state=success" in said, said[-3000:]


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_dags_import_without_errors_with_their_assets(
    airflow_env: dict[str, str], tables: tuple[Path, Path]
) -> None:
    facts = airflow_python(
        airflow_env,
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(PROJECT / 'dags')!r}); dag = bag.get_dag('rebalance'); "
        "run = dag.get_task('run'); train = bag.get_dag('train_on_rebalanced'); "
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, "
        "'tasks': sorted(dag.task_ids), 'retries': [t.retries for t in dag.tasks], "
        "'upstream_of_run': sorted(dag.get_task('run').upstream_task_ids), "
        "'inlets': [a.uri for a in run.inlets], 'outlets': [a.uri for a in run.outlets], "
        "'train_on': [a.uri for a in train.timetable.asset_condition.objects]}))",
    )
    events, rebalanced = (path.as_uri() for path in tables)
    assert facts == {
        "errors": {},
        "tasks": ["plan", "run"],
        "retries": [2, 2],
        "upstream_of_run": ["plan"],
        "inlets": [events],
        "outlets": [rebalanced],
        "train_on": [rebalanced],
    }


def test_dag_test_writes_the_days_partition_with_lineage_and_its_asset(
    spark: SparkSession,
    airflow_env: dict[str, str],
    tables: tuple[Path, Path],
    lineage_files: tuple[Path, Path],
) -> None:
    source_path, output = tables
    write_delta(labelled_df(spark, 200_000, 2_000), source_path)
    dags_test(airflow_env, "rebalance", {"factor": 5.0})

    output_df = spark.read.format("delta").load(str(output))
    assert [row["ds"] for row in output_df.select("ds").distinct().collect()] == [LOGICAL_DATE]
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    assert counts[1] == 2_000
    assert within_binomial_bound(counts[0], 198_000, 1 / 5), counts
    report_dir = output / "_rebalance_report" / f"ds={LOGICAL_DATE}"
    report = Report.model_validate_json((report_dir / "report.json").read_text())
    assert report.bias_check.verdict == "PASS"
    assert report.run_id.startswith("manual__")  # Airflow's run id is the idempotence key

    # The job's lineage names the Airflow task's own OpenLineage run as its parent.
    airflow_events, job_events = lineage_files
    job_states = [(e["eventType"], e["job"]["name"]) for e in read_events(job_events)]
    job_name = "rebalance.events_rebalanced"
    assert job_states == [("START", job_name), ("COMPLETE", job_name)]
    for event in read_events(job_events):
        validate_event(event)  # the spec's schemas, as every event of the job's
        assert event["job"]["namespace"] == "airflow-tests"  # the parent's namespace
    parent = read_events(job_events)[-1]["run"]["facets"]["parent"]
    assert (parent["job"]["namespace"], parent["job"]["name"]) == ("airflow-tests", "rebalance.run")
    task_runs = {
        e["run"]["runId"]
        for e in read_events(airflow_events)
        if e["job"]["name"] == "rebalance.run"
    }
    assert task_runs == {parent["run"]["runId"]}

    # The output Asset was updated by the run task, and the downstream DAG's check passes.
    updates = airflow_python(
        airflow_env,
        "import json; from airflow.models.asset import AssetEvent, AssetModel; "
        "from airflow.utils.session import create_session; "
        "from sqlalchemy import select\n"
        "with create_session() as s:\n"
        "    rows = s.execute(select(AssetModel.uri, AssetEvent.source_task_id)"
        ".join(AssetModel, AssetEvent.asset_id == AssetModel.id)).all()\n"
        "    print(json.dumps({'events': [[u, t] for u, t in rows]}))",
    )
    assert updates == {"events": [[output.as_uri(), "run"]]}
    dags_test(airflow_env, "train_on_rebalanced", {})
