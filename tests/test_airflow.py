"""The Airflow DAG, run for real from its own virtualenv against the main env's spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import build_wheel, delta_writes, labelled_df, within_binomial_bound, write_delta
from lineage_schemas import validate_event
from pyspark.sql import SparkSession
from s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

from rebalance_lib.core.faults import FAULT_ENV
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
        # A failed try is retried at once, not five minutes later.
        "REBALANCE_RETRY_DELAY": "0",
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


def dags_test(
    airflow_env: dict[str, str], dag_id: str, conf: dict[str, object], *options: str
) -> str:
    """``airflow dags test`` of ``dag_id`` for the logical date, which must succeed: what it
    printed. Run again, it makes the day's run anew, as a clear of its tasks would run them."""
    exit_code, said = dags_test_said(airflow_env, dag_id, conf, *options)
    assert exit_code == 0 and "state=success" in said, said[-3000:]
    return said


def dags_test_said(
    airflow_env: dict[str, str], dag_id: str, conf: dict[str, object], *options: str
) -> tuple[int, str]:
    """``airflow dags test``'s exit code and what it printed, whatever the run's state."""
    finished = subprocess.run(
        [
            str(AIRFLOW_BIN / "airflow"),
            *["dags", "test", dag_id, LOGICAL_DATE, "-c", json.dumps(conf), *options],
        ],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    return finished.returncode, finished.stdout + finished.stderr


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
        "'params': sorted(dag.params), "
        "'inlets': [a.uri for a in run.inlets], 'outlets': [a.uri for a in run.outlets], "
        "'train_on': [a.uri for a in train.timetable.asset_condition.objects]}))",
    )
    events, rebalanced = (path.as_uri() for path in tables)
    assert facts == {
        "errors": {},
        "tasks": ["plan", "run"],
        "retries": [2, 2],
        "upstream_of_run": ["plan"],
        "params": ["batch_size", "factor", "label"],  # the tables are the deployment's
        "inlets": [events],
        "outlets": [rebalanced],
        "train_on": [rebalanced],
    }

    # A trigger that names a table (as the DAG's params once did) is refused, not ignored:
    # the plan task fails before Spark starts, with no retry, and the run fails.
    exit_code, said = dags_test_said(
        airflow_env, "rebalance", {"output": "/elsewhere", "factor": 5.0}
    )
    assert exit_code == 1 and "DagRun failed" in said, said[-3000:]
    assert "the trigger's conf names output, which this DAG does not take" in said, said[-3000:]
    assert "state=failed" in said and "Spark-Submit cmd" not in said, said[-3000:]
    assert task_tries(airflow_env)["plan"] == 1


def task_tries(airflow_env: dict[str, str]) -> dict[str, object]:
    """The rebalance DAG's task instances of the logical date: {task: try number}."""
    return airflow_python(
        airflow_env,
        "import json; from airflow.models.taskinstance import TaskInstance; "
        "from airflow.utils.session import create_session; from sqlalchemy import select\n"
        "with create_session() as s:\n"
        "    rows = s.execute(select(TaskInstance.task_id, TaskInstance.try_number)"
        ".where(TaskInstance.dag_id == 'rebalance')).all()\n"
        "    print(json.dumps({t: n for t, n in rows}))",
    )


def test_a_retried_task_finishes_the_day_and_clears_commit_only_for_late_rows(
    spark: SparkSession,
    airflow_env: dict[str, str],
    tables: tuple[Path, Path],
    lineage_files: tuple[Path, Path],
    s3: S3Server,
    tmp_path: Path,
) -> None:
    """The run task's first try is killed after its data commit: Airflow's retry finishes the
    run (its report) without a second commit. The day cleared after late rows reach the source
    is redone from the newest version, replacing the day; cleared again with the source
    unchanged, it commits nothing. A clear is `dags test` run again, the same day made anew,
    with the plan task marked done, as clearing the run task alone would leave it. The downstream
    DAG then reads the day's report where the table is."""
    source_path, output = tables
    write_delta(labelled_df(spark, 200_000, 2_000), source_path)
    fired = tmp_path / "fault-fired"
    killed_once = {**airflow_env, FAULT_ENV: f"after-data-commit@{fired}"}
    said = dags_test(killed_once, "rebalance", {"factor": 5.0})

    assert fired.exists(), said[-3000:]  # the first try was killed after its data commit
    assert task_tries(airflow_env) == {"plan": 1, "run": 2}
    assert delta_writes(spark, output) == [(0, None)]
    output_df = spark.read.format("delta").load(str(output))
    assert [row["ds"] for row in output_df.select("ds").distinct().collect()] == [LOGICAL_DATE]
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    assert counts[1] == 2_000
    assert within_binomial_bound(counts[0], 198_000, 1 / 5), counts
    report_json = output / "_rebalance_report" / f"ds={LOGICAL_DATE}" / "report.json"
    report = Report.model_validate_json(report_json.read_text())
    assert report.bias_check.verdict == "PASS" and report.source.delta_version == 0
    assert report.run_id == f"rebalance__ds={LOGICAL_DATE}"  # the day is the run
    assert report.output.rows == output_df.count()

    # The job's lineage names the Airflow task's own OpenLineage run as its parent: the
    # killed try started, the retry completed.
    airflow_events, job_events = lineage_files
    job_name = "rebalance.events_rebalanced"
    job_states = [(e["eventType"], e["job"]["name"]) for e in read_events(job_events)]
    assert job_states[-1] == ("COMPLETE", job_name) and ("START", job_name) in job_states
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
    assert parent["run"]["runId"] in task_runs

    # Late rows, then the day cleared: redone from version 1, the day replaced in one commit
    # that names the one it redoes.
    labelled_df(spark, 50_000, 500).write.format("delta").mode("append").save(str(source_path))
    dags_test(airflow_env, "rebalance", {"factor": 5.0}, "--mark-success-pattern", "plan")
    assert delta_writes(spark, output) == [(0, None), (1, 0)]
    output_df = spark.read.format("delta").load(str(output))
    assert output_df.filter("label = 1").count() == 2_500
    redone = Report.model_validate_json(report_json.read_text())
    assert redone.source.delta_version == 1 and redone.source.rows == 250_000
    assert redone.output.rows == output_df.count() and redone.run_id == report.run_id

    # Cleared again, nothing new in the source: nothing to do.
    dags_test(airflow_env, "rebalance", {"factor": 5.0}, "--mark-success-pattern", "plan")
    assert len(delta_writes(spark, output)) == 2

    # Each finished run task updated the output Asset.
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
    assert updates == {"events": [[output.as_uri(), "run"]] * 3}
    downstream_reads_the_report_where_the_table_is(airflow_env, report_json, s3)


def downstream_reads_the_report_where_the_table_is(
    airflow_env: dict[str, str], report_json: Path, s3: S3Server
) -> None:
    """The check before training reads the report through Airflow's object storage: on local
    disk beside the table the rebalance DAG wrote, and in an S3 bucket for an s3a:// table
    (the Amazon provider, with a connection to the suite's S3 server)."""
    report = Report.model_validate_json(report_json.read_text())
    said_rows = f"ds={LOGICAL_DATE}: {report.output.rows} rows, bias check PASS"
    assert said_rows in dags_test(airflow_env, "train_on_rebalanced", {})

    s3.objects("make-bucket", "lake")
    key = f"events_rebalanced/_rebalance_report/ds={LOGICAL_DATE}/report.json"
    s3.objects("put", "lake", key, str(report_json))
    in_s3 = {
        **airflow_env,
        "REBALANCE_OUTPUT": "s3a://lake/events_rebalanced",
        "REBALANCE_STORAGE_CONN_ID": "lake",
        "AIRFLOW_CONN_LAKE": json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"endpoint_url": s3.url, "region_name": REGION},
            }
        ),
    }
    assert said_rows in dags_test(in_s3, "train_on_rebalanced", {})
