"""Example downstream DAG: scheduled on the rebalanced table's Asset, not on a clock.

It starts whenever the rebalance DAG's run task writes a day, checks that day's report says
PASS, and is where a training job would follow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task
from rebalance_assets import EVENTS_REBALANCED, OUTPUT_PATH

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
        checked = []
        for day in days:
            report_json = Path(OUTPUT_PATH) / "_rebalance_report" / f"ds={day}" / "report.json"
            report = json.loads(report_json.read_text())
            verdict = report["bias_check"]["verdict"]
            if verdict != "PASS":
                raise ValueError(f"{report_json}: bias check {verdict}, not training on it")
            checked.append(f"ds={day}: {report['output']['rows']} rows, bias check PASS")
        print("\n".join(checked))
        return checked

    check_report()
