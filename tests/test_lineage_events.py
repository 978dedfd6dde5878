"""OpenLineage run events: configured only by the client's standard means, never in the way."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import labelled_df, run_rebalance, write_delta
from lineage_schemas import FACET_SCHEMA_FILE, validate_event
from pyspark.sql import SparkSession

from rebalance_lib.core import versions
from rebalance_lib.core.errors import InputError
from rebalance_lib.runs.lineage_events import (
    DatasetName,
    ParentRun,
    catalog_table_id,
    dataset_id,
    job_namespace,
    lineage_configured,
    parent_runs,
    qualified_table,
)

ROWS, MINORITY_ROWS, FACTOR = 20_000, 400, 5
PARENT = "airflow_ns/rebalance.run/01937a1c-7b9e-7c1e-9a6e-3f1c2d4e5f60"
ROOT = "airflow_ns/rebalance/01937a1c-0000-7000-8000-000000000001"


# -- pure: configuration, names, parents ---------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"OPENLINEAGE_URL": "http://marquez:5000"}, True),
        ({"OPENLINEAGE_CONFIG": "/etc/openlineage.yml"}, True),
        ({"OPENLINEAGE__TRANSPORT__TYPE": "console"}, True),
        ({"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_DISABLED": "true"}, False),
        ({"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_DISABLED": "false"}, True),
        ({"OPENLINEAGE_NAMESPACE": "prod"}, False),  # a namespace alone sends nothing
    ],
)
def test_lineage_is_configured_only_by_the_clients_own_means(
    environ: dict[str, str], configured: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.openlineage/openlineage.yml
    assert lineage_configured(environ, cwd=tmp_path) is configured


def test_an_openlineage_yml_in_the_working_directory_configures_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert not lineage_configured({}, cwd=tmp_path)
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert lineage_configured({}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/events", ("file", "/data/events")),
        ("file:///data/events", ("file", "/data/events")),
        ("s3a://lake/events/daily", ("s3://lake", "events/daily")),
        ("s3://lake/events", ("s3://lake", "events")),
        ("gs://bucket/t", ("gs://bucket", "t")),
        ("hdfs://namenode:8020/data/events", ("hdfs://namenode:8020", "/data/events")),
        (
            "abfss://c@acct.dfs.core.windows.net/x/y",
            ("abfss://c@acct.dfs.core.windows.net", "x/y"),
        ),
    ],
)
def test_paths_are_named_by_the_openlineage_naming_spec(
    location: str, expected: tuple[str, str]
) -> None:
    assert dataset_id(location) == expected


def test_a_relative_path_is_named_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert dataset_id("events") == ("file", str(tmp_path / "events"))


def test_parent_and_root_runs_come_from_the_standard_variables() -> None:
    parent, root = parent_runs(
        {"OPENLINEAGE_PARENT_ID": PARENT, "OPENLINEAGE_ROOT_PARENT_ID": ROOT}
    )
    assert parent == ParentRun("airflow_ns", "rebalance.run", PARENT.rsplit("/", 1)[1])
    assert root == ParentRun("airflow_ns", "rebalance", ROOT.rsplit("/", 1)[1])
    assert parent_runs({}) == (None, None)
    assert parent_runs({"OPENLINEAGE_PARENT_ID": "no-slashes"}) == (None, None)


@pytest.mark.parametrize(
    ("table", "settings", "location", "expected"),
    [
        (  # Unity Catalog (open source): the catalog's server, three-part names
            ("main", "ml", "events"),
            {
                "spark.sql.catalog.main": "io.unitycatalog.spark.UCSingleCatalog",
                "spark.sql.catalog.main.uri": "https://uc.example.com:8080",
            },
            "s3://lake/ml/events",
            DatasetName("unitycatalog://uc.example.com:8080", "main.ml.events"),
        ),
        (  # Databricks: its catalogs are Unity Catalog's, served by the workspace
            ("main", "ml", "events"),
            {"spark.databricks.workspaceUrl": "adb-1.azuredatabricks.net"},
            None,
            DatasetName("unitycatalog://adb-1.azuredatabricks.net", "main.ml.events"),
        ),
        (  # a Hive metastore: its address, database.table
            ("spark_catalog", "ml", "events"),
            {"spark.hadoop.hive.metastore.uris": "thrift://hms-1:9083,thrift://hms-2:9083"},
            "hdfs://nn:8020/warehouse/ml.db/events",
            DatasetName("hive://hms-1:9083", "ml.events"),
        ),
        (  # the session catalog's own metastore: by its files, its name as a symlink
            ("spark_catalog", "default", "events"),
            {"spark.sql.warehouse.dir": "file:/srv/warehouse"},
            "file:/srv/warehouse/events",
            DatasetName("file", "/srv/warehouse/events", ("file:/srv/warehouse", "default.events")),
        ),
    ],
    ids=["unity-catalog", "databricks", "hive-metastore", "session-catalog"],
)
def test_catalog_tables_are_named_by_their_catalogs_rule(
    table: tuple[str, ...], settings: dict[str, str], location: str | None, expected: DatasetName
) -> None:
    assert catalog_table_id(table, settings.get, location) == expected


def test_table_names_are_read_as_sql_reads_them() -> None:
    assert qualified_table("t", "spark_catalog", "ml") == ("spark_catalog", "ml", "t")
    assert qualified_table("ml.t", "main", "x") == ("main", "ml", "t")
    assert qualified_table("`a.b`.`c``d`", "spark_catalog", "x") == ("spark_catalog", "a.b", "c`d")
    assert qualified_table("cat.ml.t", "spark_catalog", "x") == ("cat", "ml", "t")


def test_the_job_namespace_is_the_parents_unless_one_is_configured() -> None:
    parent = ParentRun("airflow_ns", "rebalance.run", "0190-ab")
    assert job_namespace(parent, {}) == "airflow_ns"
    assert job_namespace(parent, {"OPENLINEAGE_NAMESPACE": "ml-data"}) == "ml-data"
    assert job_namespace(None, {}) == "default"


def test_the_custom_facet_names_the_schema_the_package_and_the_docs_ship() -> None:
    from rebalance_lib.runs.openlineage_run import (
        FACET_SCHEMA,
        PRODUCER,
        RebalanceRunFacet,
    )

    schema = json.loads(FACET_SCHEMA_FILE.read_text())
    assert schema["$id"] == FACET_SCHEMA
    published = Path(__file__).parents[1] / "docs" / "schemas" / FACET_SCHEMA_FILE.name
    assert published.read_text() == FACET_SCHEMA_FILE.read_text()
    assert FACET_SCHEMA.endswith("/schemas/" + FACET_SCHEMA_FILE.name)
    facet = RebalanceRunFacet(runId="day-1")
    assert facet._schemaURL == f"{FACET_SCHEMA}#/$defs/RebalanceRunFacet"
    assert f"pkg:pypi/{versions.DISTRIBUTION}@{versions.VERSION}" == PRODUCER
    with pytest.raises(AssertionError, match="not pinned"):  # an unknown schema is no pass
        validate_event(
            {
                "eventType": "START",
                "eventTime": "2026-12-04T00:00:00+00:00",
                "producer": PRODUCER,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {
                    "runId": "01937a1c-7b9e-7c1e-9a6e-3f1c2d4e5f60",
                    "facets": {"x": {"_producer": PRODUCER, "_schemaURL": "https://x/y.json"}},
                },
                "job": {"namespace": "n", "name": "j"},
            }
        )


# -- real runs: the client's file transport --------------------------------------------------


@pytest.fixture(autouse=True)
def openlineage_environment_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The client copies ``OPENLINEAGE_URL`` into ``OPENLINEAGE__...`` variables: undo that."""
    for variable in [name for name in os.environ if name.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(variable)
    snapshot = dict(os.environ)
    yield
    for variable in [name for name in os.environ if name not in snapshot]:
        if variable.startswith("OPENLINEAGE"):
            del os.environ[variable]  # set by the client, not by monkeypatch: nothing to restore


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("lineage") / "events"
    return write_delta(labelled_df(spark, ROWS, MINORITY_ROWS), path)


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client configured as users do: ``OPENLINEAGE_CONFIG`` naming a YAML file."""
    events = tmp_path / "events.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "ml-data")
    return events


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events sent, each validated against the spec's schemas and rebalance's facet's."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for event in events:
        validate_event(event)
    return events


def test_a_run_sends_start_and_complete_with_both_datasets_counts_and_versions(
    spark: SparkSession,
    source: str,
    tmp_path: Path,
    events_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", PARENT)
    monkeypatch.setenv("OPENLINEAGE_ROOT_PARENT_ID", ROOT)
    output = tmp_path / "out"
    written = run_rebalance(
        spark, source, output, **{"target.factor": FACTOR, "output.run_id": "day-1"}
    )
    assert written.report is not None
    start, complete = read_events(events_file)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert start["job"] == complete["job"]
    assert complete["job"]["namespace"] == "ml-data"
    assert complete["job"]["name"] == "rebalance.out"
    run_facets = complete["run"]["facets"]
    assert run_facets["rebalance"]["runId"] == "day-1"
    parent_job = run_facets["parent"]["job"]
    assert (parent_job["namespace"], parent_job["name"]) == ("airflow_ns", "rebalance.run")
    assert run_facets["parent"]["run"]["runId"] == PARENT.rsplit("/", 1)[1]
    assert run_facets["parent"]["root"]["job"]["name"] == "rebalance"
    assert run_facets["processing_engine"]["version"] == spark.version

    [read] = complete["inputs"]
    assert (read["namespace"], read["name"]) == ("file", str(Path(source).resolve()))
    assert read["facets"]["version"]["datasetVersion"] == "0"
    assert [f["name"] for f in read["facets"]["schema"]["fields"]] == ["id", "label", "x"]
    assert read["inputFacets"]["inputStatistics"]["rowCount"] == ROWS
    [wrote] = complete["outputs"]
    assert (wrote["namespace"], wrote["name"]) == ("file", str(output.resolve()))
    assert wrote["facets"]["version"]["datasetVersion"] == str(written.delta_version)
    assert [f["name"] for f in wrote["facets"]["schema"]["fields"]] == [
        "id",
        "label",
        "x",
        "weight",
    ]
    assert wrote["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "CREATE"
    assert wrote["outputFacets"]["outputStatistics"]["rowCount"] == written.report.output.rows
    assert "outputStatistics" not in start["outputs"][0].get("outputFacets", {})


def test_catalog_tables_are_named_by_their_files_with_their_names_as_symlinks(
    spark: SparkSession, source: str, events_file: Path
) -> None:
    """The suite's session catalog has no metastore to address: a table is named by its
    files, its catalog name kept as a symlink; START names the output where it will be."""
    spark.sql(f"CREATE TABLE lineage_src USING delta LOCATION '{source}'")
    try:
        run_rebalance(
            spark,
            "lineage_src",
            "table:lineage_out",
            **{"input.format": "table", "target.factor": FACTOR},
        )
        location = spark.sql("DESCRIBE DETAIL lineage_out").first()["location"]
    finally:
        spark.sql("DROP TABLE IF EXISTS lineage_src")  # external: its files stay
        spark.sql("DROP TABLE IF EXISTS lineage_out")
    start, complete = read_events(events_file)
    warehouse = spark.conf.get("spark.sql.warehouse.dir")
    [read] = complete["inputs"]
    assert (read["namespace"], read["name"]) == ("file", str(Path(source).resolve()))
    assert read["facets"]["symlinks"]["identifiers"] == [
        {"namespace": warehouse, "name": "default.lineage_src", "type": "TABLE"}
    ]
    [wrote] = complete["outputs"]
    assert (wrote["namespace"], wrote["name"]) == dataset_id(location)
    assert wrote["facets"]["symlinks"]["identifiers"] == [
        {"namespace": warehouse, "name": "default.lineage_out", "type": "TABLE"}
    ]
    assert start["outputs"][0]["name"] == wrote["name"]
    assert complete["job"]["name"] == "rebalance.lineage_out"
    assert (
        complete["producer"] == start["producer"] == f"pkg:pypi/spark-rebalance@{versions.VERSION}"
    )


def test_a_failed_write_sends_fail_with_the_error(
    spark: SparkSession, tmp_path: Path, events_file: Path
) -> None:
    only_majority = write_delta(
        labelled_df(spark, 10_000, 100).filter("label = 0"), tmp_path / "majority"
    )
    with pytest.raises(InputError):
        run_rebalance(
            spark,
            only_majority,
            tmp_path / "out",
            **{
                "target.factor": FACTOR,
                "label.minority": 1,
                "label.classes": [0, 1],
                "sample.one_pass": True,
            },
        )
    start, fail = read_events(events_file)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    error = fail["run"]["facets"]["errorMessage"]
    assert "none or only one of the stated classes" in error["message"]
    assert error["programmingLanguage"] == "python"


def test_an_unreachable_lineage_backend_does_not_fail_the_run(
    spark: SparkSession,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{closed_port}")
    with caplog.at_level(logging.WARNING, logger="rebalance_lib"):
        written = run_rebalance(spark, source, tmp_path / "out", **{"target.factor": FACTOR})
    assert written.report is not None and written.report.bias_check.verdict == "PASS"
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("OpenLineage")]
    assert said == [
        said[0],
        "OpenLineage: the run's end is not sent either (START was not taken)",
    ]
    assert said[0].startswith("OpenLineage START event not sent: "), said


def test_nothing_is_sent_or_imported_when_unconfigured(
    spark: SparkSession, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    import sys

    monkeypatch.delitem(sys.modules, "rebalance_lib.runs.openlineage_run", raising=False)
    run_rebalance(spark, source, tmp_path / "out", **{"target.factor": FACTOR})
    assert "rebalance_lib.runs.openlineage_run" not in sys.modules
