"""Which lineage a run sends: OpenLineage's client when it is configured, else nothing.

The client module is imported only when configured, so an unconfigured run imports nothing of
OpenLineage (and asks nothing of Spark for it).
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame

from rebalance_lib.runs.lineage_events import LineageRun, RunDatasets, lineage_configured
from rebalance_lib.runs.writing import Written

log = logging.getLogger(__name__)


class _Unconfigured:
    """No OpenLineage configuration: nothing imported, nothing sent."""

    def start(self) -> None:
        pass

    def complete(self, written: Written, output_df: DataFrame) -> None:
        pass

    def fail(self, error: BaseException) -> None:
        pass


def lineage_run(datasets: RunDatasets, run_id: str) -> LineageRun:
    """The events of one run: sent through the OpenLineage client when it is configured.

    Unconfigured, nothing is asked of Spark either (schemas and settings are server calls
    over Spark Connect).

    Example:
        >>> from rebalance_lib.core.tables import Table
        >>> datasets = RunDatasets(source, source_df, Table.parse(path), "error")
        >>> events = lineage_run(datasets, "2026-11-27")
        >>> events.start()
    """
    if not lineage_configured():
        return _Unconfigured()
    try:
        from rebalance_lib.runs.openlineage_run import OpenLineageRun
    except ImportError:
        log.warning(
            "OpenLineage is configured but its client is missing: "
            "pip install 'spark-rebalance[lineage]' (no lineage events for this run)"
        )
        return _Unconfigured()
    return OpenLineageRun(datasets, run_id)
