"""How often the application scanned a path: evidence for "the source is read N times".

For the benchmark and the tests, on a classic session only: Spark's SQL status store is
reached through the driver's JVM, which the package itself never touches.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from rebalance_lib.storage import fs


def sql_execution_count(spark: SparkSession) -> int:
    """The id the next SQL execution will get: a marker for ``source_scans``.

    Not the number of executions the status store holds: it keeps only the last
    ``spark.sql.ui.retainedExecutions`` (1,000), so a long session's count stops growing.
    """
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    if executions.size() == 0:
        return 0
    return int(executions.apply(executions.size() - 1).executionId()) + 1


def source_scans(spark: SparkSession, path: str, since_execution: int) -> int:
    """SQL executions since the marker whose physical plan reads the files at ``path``."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    scheme, local_path = fs.resolved(spark, path)
    location = f"[{scheme}:{local_path}]"
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    scans = 0
    for index in range(executions.size()):
        execution = executions.apply(index)
        if execution.executionId() < since_execution:
            continue
        plan_lines = str(execution.physicalPlanDescription()).splitlines()
        scans += any(
            line.startswith("Location:") and line.endswith(location) for line in plan_lines
        )
    return scans
