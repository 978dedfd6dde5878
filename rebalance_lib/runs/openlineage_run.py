"""A run's OpenLineage events, built and sent with the ``openlineage-python`` client.

Imported only when lineage is configured (see ``lineage_events``): the client is an optional
dependency, ``pip install 'spark-rebalance[lineage]'``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet
from openlineage.client.uuid import generate_new_uuid
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from rebalance_lib.core import versions
from rebalance_lib.core.tables import Table
from rebalance_lib.runs.lineage_events import (
    DatasetName,
    RunDatasets,
    catalog_table_id,
    dataset_id,
    job_namespace,
    parent_runs,
    qualified_table,
)
from rebalance_lib.runs.writing import Written
from rebalance_lib.storage.delta_sql import catalog_location

log = logging.getLogger(__name__)

# The package that made the events, by its Package URL (name and version, no host).
PRODUCER = f"pkg:pypi/{versions.DISTRIBUTION}@{versions.VERSION}"
# The custom facet's JSON Schema: shipped in the package (``RebalanceRunFacet.json`` beside
# this module) and published with the docs, at the address its ``$id`` gives.
FACET_SCHEMA = "https://spark-rebalance.readthedocs.io/en/latest/schemas/RebalanceRunFacet.json"
_LIFECYCLE_OF_MODE = {
    "overwrite": lifecycle_state_change_dataset.LifecycleStateChange.OVERWRITE,
    "error": lifecycle_state_change_dataset.LifecycleStateChange.CREATE,
}


@attr.define
class RebalanceRunFacet(RunFacet):
    """rebalance's own run id: the idempotence key a retry repeats."""

    runId: str  # noqa: N815  (OpenLineage facets are camelCase)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA}#/$defs/RebalanceRunFacet"


class OpenLineageRun:
    """Sends one run's events; a failure to send costs a warning line, never the run.

    START goes from a background thread, so a slow or unreachable backend (the client
    retries for about 9 s) never delays the run; COMPLETE or FAIL waits for it, and is not
    tried when START could not be sent.
    """

    def __init__(self, datasets: RunDatasets, run_id: str) -> None:
        self._datasets = datasets
        self._run_id = run_id
        spark = datasets.source_df.sparkSession
        self._spark_version = spark.version
        self._parent, self._root = parent_runs()
        # Both datasets named once, as the run starts (a catalog's settings are server calls).
        self._input_name = self._source_named(spark)
        self._output_name = _table_named(spark, datasets.output)
        self._job_name = _job_name(datasets.output)
        self._lineage_run_id = str(generate_new_uuid())
        self._start_sent: threading.Thread | None = None
        self._backend_took_start = False
        self._client: OpenLineageClient | None
        try:
            self._client = OpenLineageClient()
        except Exception as error:  # a bad configuration must not stop the run
            log.warning("OpenLineage client not started: %s", _first_line(error))
            self._client = None

    def start(self) -> None:
        """START: both datasets, the input's schema and Delta version."""
        self._start_sent = threading.Thread(
            target=self._emit, args=(RunState.START, None), name="openlineage-start", daemon=True
        )
        self._start_sent.start()

    def complete(self, written: Written, output_df: DataFrame) -> None:
        """COMPLETE: the output's schema, row counts and the Delta versions read and written."""
        if self._started():
            self._emit(RunState.COMPLETE, written, output_schema=output_df.schema)

    def fail(self, error: BaseException) -> None:
        """FAIL, with the error's first line and its trace."""
        facet = error_message_run.ErrorMessageRunFacet(
            message=_first_line(error),
            programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(error)),
        )
        if self._started():
            self._emit(RunState.FAIL, None, {"errorMessage": facet})

    def _started(self) -> bool:
        """Wait for START; False (said once) when the backend did not take it."""
        if self._start_sent is not None:
            self._start_sent.join()
        if self._client is not None and not self._backend_took_start:
            log.warning("OpenLineage: the run's end is not sent either (START was not taken)")
            return False
        return self._client is not None

    def _emit(
        self,
        state: RunState,
        written: Written | None,
        extra_run_facets: dict[str, RunFacet] | None = None,
        output_schema: StructType | None = None,
    ) -> None:
        if self._client is None:
            return
        try:
            event = RunEvent(
                eventType=state,
                eventTime=datetime.now(UTC).isoformat(),
                run=Run(
                    runId=self._lineage_run_id,
                    facets={**self._run_facets(), **(extra_run_facets or {})},
                ),
                job=Job(
                    namespace=job_namespace(self._parent), name=self._job_name, facets=_JOB_FACETS
                ),
                inputs=self._inputs(written),
                outputs=self._outputs(written, output_schema),
                producer=PRODUCER,
            )
            self._client.emit(event)
            self._backend_took_start = True  # the first event through: START
        except Exception as error:  # lineage is a side channel: it never fails the run
            log.warning("OpenLineage %s event not sent: %s", state.value, _first_line(error))

    def _run_facets(self) -> dict[str, RunFacet]:
        facets: dict[str, RunFacet] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=self._spark_version,
                name="spark",
                openlineageAdapterVersion=versions.VERSION,
            ),
            "rebalance": RebalanceRunFacet(runId=self._run_id, producer=PRODUCER),
        }
        parent, root = self._parent, self._root
        if parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent.run_id),
                job=parent_run.Job(namespace=parent.namespace, name=parent.job_name),
                root=(
                    parent_run.Root(
                        run=parent_run.RootRun(runId=root.run_id),
                        job=parent_run.RootJob(namespace=root.namespace, name=root.job_name),
                    )
                    if root is not None
                    else None
                ),
            )
        return facets

    def _inputs(self, written: Written | None) -> list[InputDataset]:
        source = self._datasets.source
        if source.format == "dataframe":
            return []  # a DataFrame handed in: where its rows come from is the caller's to say
        named = self._input_name
        input_facets: dict[str, Any] = {}
        if written is not None and written.report is not None:
            input_facets["inputStatistics"] = (
                input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=written.report.source.rows, size=source.size_bytes
                )
            )
        facets = _dataset_facets(named, self._datasets.source_df.schema, source.delta_version)
        return [
            InputDataset(
                namespace=named.namespace, name=named.name, facets=facets, inputFacets=input_facets
            )
        ]

    def _outputs(
        self, written: Written | None, output_schema: StructType | None
    ) -> list[OutputDataset]:
        named = self._output_name
        facets = _dataset_facets(
            named, output_schema, written.delta_version if written is not None else None
        )
        change = _LIFECYCLE_OF_MODE.get(self._datasets.mode)
        if change is not None:
            facets["lifecycleStateChange"] = (
                lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                    lifecycleStateChange=change
                )
            )
        output_facets: dict[str, Any] = {}
        if written is not None and written.report is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=written.report.output.rows
                )
            )
        return [
            OutputDataset(
                namespace=named.namespace,
                name=named.name,
                facets=facets,
                outputFacets=output_facets,
            )
        ]

    def _source_named(self, spark: SparkSession) -> DatasetName:
        source = self._datasets.source
        if source.format == "dataframe":
            return DatasetName("", "")  # not named: a DataFrame's inputs are the caller's to say
        in_catalog = source.format in ("table", "delta-table")
        return _table_named(spark, Table(source.name, in_catalog=in_catalog))


def _job_name(output: Table) -> str:
    """``rebalance.`` and the output's last name: its folder, or its table's name."""
    if output.in_catalog:
        last = qualified_table(output.where, "", "")[2]
    else:
        last = dataset_id(output.where)[1].rstrip("/").rsplit("/", 1)[-1]
    return "rebalance." + (last or "output")


def _table_named(spark: SparkSession, table: Table) -> DatasetName:
    """A path by the naming spec; a catalog table by its catalog's rule."""
    if not table.in_catalog:
        return DatasetName(*dataset_id(table.where))
    qualified = qualified_table(
        table.where, spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    )
    location = catalog_location(spark, table.where, qualified)
    return catalog_table_id(qualified, lambda key: spark.conf.get(key, None), location)


_JOB_FACETS: dict[str, JobFacet] = {
    "jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="REBALANCE", jobType="JOB"
    )
}


def _dataset_facets(
    named: DatasetName, schema: StructType | None, delta_version: int | None
) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {}
    if named.symlink is not None:
        symlink_namespace, symlink_name = named.symlink
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace=symlink_namespace, name=symlink_name, type="TABLE"
                )
            ]
        )
    if schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=field.name, type=field.dataType.simpleString()
                )
                for field in schema.fields
            ]
        )
    if delta_version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(delta_version)
        )
    return facets


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
