"""The Airflow Assets of the rebalance DAGs: the input table and the rebalanced one.

Their locations are deployment settings of the Airflow workers: REBALANCE_INPUT and
REBALANCE_OUTPUT (Delta paths, default /data/events and /data/events_rebalanced).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from airflow.sdk import Asset

INPUT_PATH = os.environ.get("REBALANCE_INPUT", "/data/events")
OUTPUT_PATH = os.environ.get("REBALANCE_OUTPUT", "/data/events_rebalanced")


def _asset(name: str, path: str) -> Asset:
    uri = path if "://" in path else PurePosixPath(path).as_uri()
    return Asset(name=name, uri=uri, group="delta")


EVENTS = _asset("events", INPUT_PATH)
EVENTS_REBALANCED = _asset("events_rebalanced", OUTPUT_PATH)
