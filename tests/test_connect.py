"""Over Spark Connect, against a real server in its own process: the API, the command line,
bad input, a rerun, one pass and an increment write what a classic session writes (the hash
sampler keeps the same rows), with their report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance
from connect_server import ConnectServer
from pyspark.sql import SparkSession

from rebalance_lib import rebalance
from rebalance_lib.core.errors import InputError, OutputError, RebalanceError
from rebalance_lib.core.tables import Table
from rebalance_lib.report.files import read_report, read_report_json
from rebalance_lib.storage import delta_sql
from rebalance_lib.storage.jobs import described

ROWS, MINORITY_ROWS = 20_000, 200
HASHED = {
    "target.factor": 5,
    "sample.method": "hash",
    "sample.key": ["id"],
    "sample.seed": 3,
}
Connect = Callable[[], AbstractContextManager[SparkSession]]
Rows = set[tuple[int, int, float]]


def make_source(spark: SparkSession, path: Path) -> str:
    labelled_df(spark, ROWS, MINORITY_ROWS).write.format("delta").save(str(path))
    return str(path)


def append_rows(spark: SparkSession, source: str) -> None:
    later_df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn("id", F.col("id") + ROWS)
    later_df.write.format("delta").mode("append").save(source)


def table_rows(spark: SparkSession, output: str) -> Rows:
    output_df = delta_sql.read_version(spark, Table.parse(output), None)
    table_df = output_df.select("id", "label", "weight")
    return {(row[0], row[1], row[2]) for row in table_df.collect()}


def commits(spark: SparkSession, output: str) -> int:
    return delta_sql.history(spark, delta_sql.table_ref(Table.parse(output))).count()


def through_the_api(spark: SparkSession, workdir: Path) -> str:
    source = make_source(spark, workdir / "in")
    out = rebalance(
        spark.read.format("delta").load(source), factor=5, sampler="hash", sample_key="id", seed=3
    )
    written = out.write(str(workdir / "out"), run_id="api")
    assert written.report is not None and written.report.checks_passed
    # The batches are measured in file order over Connect as in a classic session.
    file_order = written.report.batch.file_order
    assert [c.label for c in file_order] == [0, 1] and not file_order[1].worse_than_random
    assert not spark.getTags()  # the phases' tags (over Connect) are gone after the call
    return written.path


def one_pass(spark: SparkSession, workdir: Path) -> str:
    source = make_source(spark, workdir / "in")
    settings = {"sample.one_pass": True, "label.minority": 1, "label.classes": [0, 1]}
    written = run_rebalance(spark, source, workdir / "out", **HASHED, **settings)
    assert written.report is not None and written.report.request.source_passes == 1
    return written.path


def incremental(spark: SparkSession, workdir: Path) -> str:
    source = make_source(spark, workdir / "in")
    run_rebalance(spark, source, workdir / "out", **HASHED)
    append_rows(spark, source)
    written = run_rebalance(
        spark, source, workdir / "out", **HASHED, **{"output.incremental": True}
    )
    assert written.report is not None and written.report.source.appended_after_version == 0
    return written.path


def rerun(spark: SparkSession, workdir: Path) -> str:
    source = make_source(spark, workdir / "in")
    first = run_rebalance(spark, source, workdir / "out", **HASHED, **{"output.run_id": "r1"})
    versions = commits(spark, first.path)
    again = run_rebalance(spark, source, workdir / "out", **HASHED, **{"output.run_id": "r1"})
    assert again.skipped_as_repeat and again.report is None
    assert again.delta_version == first.delta_version
    assert commits(spark, first.path) == versions  # no new commit, not even properties
    return first.path


def to_a_catalog_table(spark: SparkSession, workdir: Path) -> str:
    source = make_source(spark, workdir / "in")
    table = f"table:default.rebalanced_{uuid.uuid4().hex}"
    first = run_rebalance(spark, source, table, **HASHED, **{"output.run_id": "t1"})  # type: ignore[arg-type]  # a table name, not a path
    assert first.report is not None and first.report.output.path == table
    versions = commits(spark, table)
    again = run_rebalance(spark, source, table, **HASHED, **{"output.run_id": "t1"})  # type: ignore[arg-type]  # a table name, not a path
    assert again.skipped_as_repeat and commits(spark, table) == versions
    detail = delta_sql.table_detail(spark, Table.parse(table))
    assert detail is not None and detail.properties["rebalance.runId"] == "t1"
    return table


@pytest.mark.parametrize(
    "scenario", [through_the_api, one_pass, incremental, rerun, to_a_catalog_table]
)
def test_connect_writes_what_classic_writes(
    spark: SparkSession, connect: Connect, tmp_path: Path, scenario: Callable[..., str]
) -> None:
    classic_output = scenario(spark, tmp_path / "classic")
    with connect() as remote:
        remote_output = scenario(remote, tmp_path / "connect")
        remote_rows = table_rows(remote, remote_output)
        report = read_report(remote, Table.parse(remote_output))
    assert remote_rows == table_rows(spark, classic_output)
    assert report.checks_passed and 0 < report.output.rows <= len(remote_rows)


def test_the_command_line_runs_on_the_server_spark_remote_names(
    spark: SparkSession, connect_server: ConnectServer, tmp_path: Path
) -> None:
    source = make_source(spark, tmp_path / "in")
    classic = run_rebalance(spark, source, tmp_path / "classic", **HASHED)
    output = tmp_path / "connect"
    rebalance_cli = str(Path(sys.executable).with_name("rebalance"))
    report_dir = tmp_path / "client-report"
    flags = ["--factor", "5", "--sampler", "hash", "--sample-key", "id", "--seed", "3"]
    flags += ["--input", source, "--output", str(output), "--report-dir", str(report_dir)]
    finished = subprocess.run(
        [rebalance_cli, "run", *flags],
        env={**os.environ, "SPARK_REMOTE": connect_server.url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "data committed as Delta version 0" in finished.stdout
    assert table_rows(spark, str(output)) == table_rows(spark, classic.path)
    # Through Spark next to the table, and on this machine where it was asked for.
    from_folder = read_report(spark, Table(""), str(report_dir))
    assert read_report(spark, Table(str(output))).run_id == from_folder.run_id
    assert (report_dir / "class_counts.svg").is_file()


BAD_INPUT = [
    ({"input.source": "{root}/missing"}, InputError, "does not exist"),
    ({"input.source": "{root}/parquet"}, InputError, "is not a Delta table"),
    ({"output.path": "{root}/in/inside"}, OutputError, "overlaps the input"),
    ({"label.column": "y"}, InputError, "label column 'y' not found"),
    (
        {"sample.one_pass": True, "label.minority": 1, "label.classes": [1, 2]},
        InputError,
        "not in the stated classes (1, 2)",
    ),
]


@pytest.mark.parametrize(("settings", "error_type", "message"), BAD_INPUT)
def test_bad_input_fails_the_same_way_over_connect_and_writes_nothing(
    spark: SparkSession,
    connect: Connect,
    tmp_path: Path,
    settings: dict[str, object],
    error_type: type[RebalanceError],
    message: str,
) -> None:
    source = make_source(spark, tmp_path / "in")
    labelled_df(spark, 100, 10).write.parquet(str(tmp_path / "parquet"))
    given = {
        key: value.format(root=tmp_path) if isinstance(value, str) else value
        for key, value in settings.items()
    }
    output = str(given.get("output.path", tmp_path / "out"))
    run_settings = {**HASHED, **given}
    with pytest.raises(error_type, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_rebalance(spark, source, Path(output), **run_settings)
    with connect() as remote, pytest.raises(error_type) as raised:
        run_rebalance(remote, source, Path(output), **run_settings)
    assert message in str(raised.value)
    assert not delta_sql.is_delta(spark, Table.parse(output))


def test_a_day_into_its_partition_keeps_its_report_beside_the_table(
    spark: SparkSession, connect: Connect, tmp_path: Path
) -> None:
    """The partition's report folder is under the table's, on the server's side: over Connect
    too, where a folder the caller names would be the client's own."""
    day = {"output.into_partition": {"ds": "2026-11-23"}}
    runs = {}
    for kind, session in (("classic", nullcontext(spark)), ("connect", connect())):
        with session as active:
            source = make_source(active, tmp_path / kind / "in")
            written = run_rebalance(active, source, tmp_path / kind / "out", **HASHED, **day)
            assert written.report is not None
            report_json = read_report_json(active, Table(written.path), None, "ds=2026-11-23")
            assert report_json is not None
            assert json.loads(report_json)["run_id"] == written.report.run_id
            runs[kind] = (written.path, table_rows(active, written.path))
    assert runs["connect"][1] == runs["classic"][1]
    assert not (Path(runs["connect"][0]) / "_rebalance_report" / "report.json").exists()


def test_over_connect_a_phase_names_its_operations_by_a_tag_removed_after(
    connect: Connect,
) -> None:
    with connect() as remote:
        remote.addTag("callers-own")
        try:
            with described(remote, "count classes of 'label' in a, b @ v3"):
                assert remote.getTags() == {
                    "callers-own",
                    "rebalance: count classes of 'label' in a; b @ v3",
                }
                assert remote.range(3).count() == 3  # an operation runs with the tag
            assert remote.getTags() == {"callers-own"}
        finally:
            remote.removeTag("callers-own")


def test_over_connect_a_write_that_cannot_be_taken_back_fails_naming_what_is_left(
    spark: SparkSession, connect: Connect, tmp_path: Path
) -> None:
    """A one-pass first write whose input turns out to hold one class is committed; a classic
    session removes it, a Connect client cannot and says so in the run's one line."""
    source = str(tmp_path / "majority")
    labelled_df(spark, 2_000, 20).filter("label = 0").write.format("delta").save(source)
    stated = {"label.minority": 1, "label.classes": [0, 1], "sample.one_pass": True}
    with pytest.raises(InputError, match="none or only one of the stated classes") as classic:
        run_rebalance(spark, source, tmp_path / "classic", **HASHED, **stated)
    assert "is left" not in str(classic.value) and not (tmp_path / "classic").exists()
    output = tmp_path / "remote"
    with connect() as remote, pytest.raises(InputError) as raised:
        run_rebalance(remote, source, output, **HASHED, **stated)
    message = str(raised.value)
    assert "none or only one of the stated classes" in message
    assert f"{output} is left: a Spark Connect client cannot remove files" in message
    assert "\n" not in message and delta_sql.is_delta(spark, Table(str(output)))
