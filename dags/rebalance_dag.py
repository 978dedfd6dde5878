"""Airflow DAG: plan, then rebalance, each a spark-submit of jobs/rebalance_job.py.

Deployment settings come from the environment of the Airflow workers:
REBALANCE_HOME (the project checkout, default: this file's parent folder),
REBALANCE_WHEEL (default REBALANCE_HOME/dist/rebalance-0.1.0-py3-none-any.whl) and
REBALANCE_PYSPARK_PYTHON (the Python that runs the job's driver). The Spark master comes
from the `spark_default` connection.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param

PROJECT = Path(os.environ.get("REBALANCE_HOME", Path(__file__).resolve().parents[1]))
WHEEL = os.environ.get(
    "REBALANCE_WHEEL", str(PROJECT / "dist" / "rebalance-0.1.0-py3-none-any.whl")
)
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
TARGET_ARGS = [
    "--label",
    "{{ params.label }}",
    "--factor",
    "{{ params.factor }}",
    "--batch-size",
    "{{ params.batch_size }}",
]

with DAG(
    dag_id="rebalance",
    description="Downsample the majority class and upweight it, daily, with a proof report",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "input": Param("/data/events", type="string", description="input Delta path"),
        "output": Param("/data/events_rebalanced", type="string", description="output root"),
        "label": Param("label", type="string"),
        "factor": Param(20.0, type="number", minimum=1),
        "batch_size": Param(128, type="integer", minimum=1),
    },
    tags=["rebalance"],
) as dag:
    common = {
        "application": str(PROJECT / "jobs" / "rebalance_job.py"),
        "py_files": WHEEL,
        "packages": DELTA_PACKAGE,
        "conf": DELTA_CONF,
        "conn_id": "spark_default",
        "env_vars": {"PYSPARK_PYTHON": os.environ.get("REBALANCE_PYSPARK_PYTHON", "python3")},
    }
    plan = SparkSubmitOperator(
        task_id="plan",
        application_args=["plan", "--input", "{{ params.input }}", *TARGET_ARGS],
        **common,
    )
    # One output table per logical date; the Airflow run id makes a retried task a no-op
    # once its write has committed.
    rebalance = SparkSubmitOperator(
        task_id="run",
        application_args=[
            "run",
            "--input",
            "{{ params.input }}",
            *TARGET_ARGS,
            "--output",
            "{{ params.output }}/ds={{ ds }}",
            "--mode",
            "overwrite",
            "--run-id",
            "{{ run_id }}",
        ],
        **common,
    )
    plan >> rebalance
