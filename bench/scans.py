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
    place = fs.resolved(spark, path)
    location = f"[{place.store}:{place.path}]"
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


def next_job_id(spark: SparkSession) -> int:
    """The id the next Spark job will get: a marker for ``job_descriptions``."""
    return max((int(job.jobId()) + 1 for job in _jobs(spark)), default=0)


def job_descriptions(spark: SparkSession, since_job: int) -> dict[int, str | None]:
    """Each job's description (None: it had none) since the marker, as the Spark UI lists it."""
    return {
        int(job.jobId()): str(job.description().get()) if job.description().isDefined() else None
        for job in _jobs(spark)
        if job.jobId() >= since_job
    }


def _jobs(spark: SparkSession) -> list:  # type: ignore[type-arg]  # py4j handles of JobData
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    return [jobs.apply(index) for index in range(jobs.size())]
