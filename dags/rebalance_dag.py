"""Airflow DAG: plan, then rebalance, each a spark-submit of jobs/rebalance_job.py.

The input and the output are Airflow Assets (see rebalance_assets.py): the run task's
inlet and outlet, so a DAG scheduled on the output starts when a day is written. They are
deployment settings, not params, so the outlet is always the table the task wrote. Each
logical date is written into its own partition `ds` of one output table; a rerun of a day
replaces that day only.

Deployment settings come from the environment of the Airflow workers:
REBALANCE_INPUT and REBALANCE_OUTPUT (the Delta tables),
REBALANCE_HOME (the project checkout, default: this file's parent folder),
REBALANCE_WHEEL (default: the one spark_rebalance wheel in REBALANCE_HOME/dist, built by
`make wheel`), REBALANCE_SPARK_VERSION (the cluster's Spark, which names Delta's JAR; default:
the newest Spark rebalance supports), REBALANCE_PYSPARK_PYTHON (the Python that runs the
job's driver) and REBALANCE_RETRY_DELAY (seconds between a task's tries, default 300). The
Spark master comes from the `spark_default` connection. With Airflow's
OpenLineage provider configured, the job's own lineage events name this task's run as their
parent.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param
from airflow.sdk.exceptions import AirflowFailException
from rebalance_assets import EVENTS, EVENTS_REBALANCED, INPUT_PATH, OUTPUT_PATH

PROJECT = Path(os.environ.get("REBALANCE_HOME", Path(__file__).resolve().parents[1]))


def _project_versions() -> ModuleType:
    """rebalance's own table of versions (a pure file), read where the project is checked out:
    Airflow's environment does not install rebalance, and the DAG names the same Delta JAR."""
    spec = importlib.util.spec_from_file_location(
        "rebalance_versions", PROJECT / "rebalance_lib" / "core" / "versions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel() -> str:
    """REBALANCE_WHEEL, else the one wheel `make wheel` left in the project's dist/."""
    if "REBALANCE_WHEEL" in os.environ:
        return os.environ["REBALANCE_WHEEL"]
    wheels = list((PROJECT / "dist").glob("spark_rebalance-*-py3-none-any.whl"))
    return str(wheels[0]) if len(wheels) == 1 else str(PROJECT / "dist" / "spark_rebalance.whl")


VERSIONS = _project_versions()
WHEEL = _wheel()
SPARK_VERSION = os.environ.get("REBALANCE_SPARK_VERSION", VERSIONS.newest_supported_spark())
DELTA_PACKAGE = VERSIONS.delta_package(SPARK_VERSION)
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def _lineage_parent_env() -> dict[str, str]:
    """The task's OpenLineage run as the job's parent, when Airflow's provider is on."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return {}
    if is_disabled():
        return {}
    macros = "macros.OpenLineageProviderPlugin"
    return {
        "OPENLINEAGE_PARENT_ID": f"{{{{ {macros}.lineage_parent_id(task_instance) }}}}",
        "OPENLINEAGE_ROOT_PARENT_ID": f"{{{{ {macros}.lineage_root_parent_id(task_instance) }}}}",
    }


TARGET_ARGS = [
    "--label",
    "{{ params.label }}",
    "--factor",
    "{{ params.factor }}",
    "--batch-size",
    "{{ params.batch_size }}",
]
RETRY_DELAY = timedelta(seconds=float(os.environ.get("REBALANCE_RETRY_DELAY", "300")))
PARAMS = {
    "label": Param("label", type="string"),
    "factor": Param(20.0, type="number", minimum=1),
    "batch_size": Param(128, type="integer", minimum=1),
}


def refuse_unknown_conf(context: Any) -> None:
    """A trigger sets only the DAG's params: a key it does not take (the `input` or `output` of
    an older DAG, a misspelt `factr`) fails the task before Spark starts, and is not retried."""
    unknown = sorted(set(context["dag_run"].conf or {}) - set(PARAMS))
    if unknown:
        raise AirflowFailException(
            f"rebalance: the trigger's conf names {', '.join(unknown)}, which this DAG does not "
            f"take; it takes {', '.join(sorted(PARAMS))}, and its tables are the deployment's "
            "REBALANCE_INPUT and REBALANCE_OUTPUT"
        )


with DAG(
    dag_id="rebalance",
    description="Downsample the majority class and upweight it, daily, with a proof report",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params=PARAMS,
    tags=["rebalance"],
) as dag:
    common = {
        "application": str(PROJECT / "jobs" / "rebalance_job.py"),
        "py_files": WHEEL,
        "packages": DELTA_PACKAGE,
        "conf": DELTA_CONF,
        "conn_id": "spark_default",
        "pre_execute": refuse_unknown_conf,
        "env_vars": {
            "PYSPARK_PYTHON": os.environ.get("REBALANCE_PYSPARK_PYTHON", "python3"),
            **_lineage_parent_env(),
        },
    }
    plan = SparkSubmitOperator(
        task_id="plan",
        application_args=["plan", "--input", INPUT_PATH, *TARGET_ARGS],
        **common,
    )
    # One partition per logical date (replaceWhere on ds), and the day is the run: its run id
    # is the same for every try of the day's task, a clear, or a run of the same logical date
    # made anew (`airflow dags test`, a deleted run triggered again). A retry finishes what an
    # earlier try committed; a later run of a finished day commits nothing on an unchanged
    # source and replaces the day when the source moved on.
    rebalance = SparkSubmitOperator(
        task_id="run",
        application_args=[
            "run",
            "--input",
            INPUT_PATH,
            *TARGET_ARGS,
            "--output",
            OUTPUT_PATH,
            "--into-partition",
            "ds={{ ds }}",
            "--mode",
            "overwrite",
            "--run-id",
            "{{ dag.dag_id }}__ds={{ ds }}",
        ],
        inlets=[EVENTS],
        outlets=[EVENTS_REBALANCED],
        **common,
    )
    plan >> rebalance
