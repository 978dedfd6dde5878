"""Example downstream DAG: scheduled on the rebalanced table's Asset, not on a clock.

It starts whenever the rebalance DAG's run task writes a day, checks that day's report says
PASS, and is where a training job would follow. The report is read where the table is, through
Airflow's object storage: a local path as it is, an object store (s3a://, gs://, abfss://)
with its provider installed (apache-airflow-providers-amazon[s3fs] for S3, ...) and the
connection REBALANCE_STORAGE_CONN_ID (default: the provider's own, e.g. aws_default).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, task
from rebalance_assets import EVENTS_REBALANCED

STORAGE_CONN_ID = os.environ.get("REBALANCE_STORAGE_CONN_ID") or None

with DAG(
    dag_id="train_on_rebalanced",
    description="Start training when a day of rebalanced rows is written",
    schedule=[EVENTS_REBALANCED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["rebalance"],
) as dag:

    @task
    def check_report(triggering_asset_events: Any = None, ds: str | None = None) -> list[str]:
        """Each written day's report must say PASS before anything trains on it.

        The days are those of the runs that wrote the Asset; run by hand, the logical date.
        """
        events = (triggering_asset_events or {}).get(EVENTS_REBALANCED, [])
        days = sorted(
            {
                event.source_dag_run.logical_date.date().isoformat()
                for event in events
                if event.source_dag_run is not None and event.source_dag_run.logical_date
            }
        ) or [ds]
        reports = ObjectStoragePath(EVENTS_REBALANCED.uri, conn_id=STORAGE_CONN_ID)
        checked = []
        for day in days:
            report_json = reports / "_rebalance_report" / f"ds={day}" / "report.json"
            report = json.loads(report_json.read_text())
            verdict = report["bias_check"]["verdict"]
            if verdict != "PASS":
                raise ValueError(f"{report_json}: bias check {verdict}, not training on it")
            checked.append(f"ds={day}: {report['output']['rows']} rows, bias check PASS")
        print("\n".join(checked))
        return checked

    check_report()
