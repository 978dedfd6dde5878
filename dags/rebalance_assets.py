"""The Airflow Assets of the rebalance DAGs: the input table and the rebalanced one.

Their locations are deployment settings of the Airflow workers, not trigger-time params, so an
Asset always names the table the run task reads or writes: REBALANCE_INPUT and
REBALANCE_OUTPUT (Delta tables by path or URI: /data/events, s3a://bucket/events; default
/data/events and /data/events_rebalanced). One DAG rebalances one table; a second table is a
second deployment of the DAG (or a DAG file of its own with other defaults).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from airflow.sdk import Asset

INPUT_PATH = os.environ.get("REBALANCE_INPUT", "/data/events")
OUTPUT_PATH = os.environ.get("REBALANCE_OUTPUT", "/data/events_rebalanced")

# Hadoop's names for S3 (what Spark reads and writes) and the one Airflow and fsspec know.
_SCHEMES = {"s3a": "s3", "s3n": "s3"}


def location_uri(path: str) -> str:
    """A table's location as Airflow names it: a file URI for a local path, ``s3://`` for
    Hadoop's ``s3a://`` and ``s3n://``, any other URI as it is."""
    scheme, found, rest = path.partition("://")
    if not found:
        return PurePosixPath(path).as_uri()
    return f"{_SCHEMES.get(scheme, scheme)}://{rest}"


def _asset(name: str, path: str) -> Asset:
    return Asset(name=name, uri=location_uri(path), group="delta")


EVENTS = _asset("events", INPUT_PATH)
EVENTS_REBALANCED = _asset("events_rebalanced", OUTPUT_PATH)
