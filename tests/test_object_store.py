"""Tables on an object store: S3A against a real S3 API server (moto's, the `s3` fixture), in
the suite's session, which carries S3A from its start; what lands in the bucket is read back
through boto3, as a user's own tools would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyspark.sql.functions as F
import pytest
import yaml
from conftest import S3_CONF, labelled_df, run_rebalance, within_binomial_bound
from pyspark.sql import DataFrame, SparkSession
from s3_server import S3Server

from rebalance_lib import rebalance_table, select_factor
from rebalance_lib.cli import main
from rebalance_lib.core.errors import InputError, OutputError
from rebalance_lib.core.faults import FAULT_ENV
from rebalance_lib.core.tables import Table
from rebalance_lib.report.files import read_report
from rebalance_lib.report.model import Report
from rebalance_lib.storage import fs

ROWS, MINORITY_ROWS, FACTOR = 20_000, 400, 5
HASH = {"sample.method": "hash", "sample.key": ["id"], "target.factor": FACTOR}
REPORT_FILES = ["class_counts.svg", "report.json", "report.md"]


@pytest.fixture(scope="module")
def buckets(s3: S3Server) -> S3Server:
    """``raw`` holds the sources, ``curated`` the outputs (the same keys as their sources)."""
    for bucket in ("raw", "curated"):
        s3.make_bucket(bucket)
    return s3


@pytest.fixture(scope="module")
def events(spark: SparkSession, buckets: S3Server) -> str:
    source = "s3a://raw/events"
    labelled_df(spark, ROWS, MINORITY_ROWS).write.format("delta").save(source)
    return source


def read(spark: SparkSession, path: str | Path) -> DataFrame:
    return spark.read.format("delta").load(str(path))


def test_a_run_from_one_bucket_to_another_under_the_same_key_matches_the_run_on_local_disk(
    spark: SparkSession, events: str, buckets: S3Server, tmp_path: Path
) -> None:
    """raw/events -> curated/events, the lake's commonest layout, is not an overlap; the hash
    sampler keeps the very rows the same run keeps on local disk; the report is three objects
    named as on disk, and report.json fetched by its key is the run's."""
    written = run_rebalance(spark, events, "s3a://curated/events", **HASH)
    local_source = str(tmp_path / "events")
    read(spark, events).write.format("delta").save(local_source)
    local = run_rebalance(spark, local_source, tmp_path / "out", **HASH)
    on_s3_df, on_disk_df = read(spark, "s3a://curated/events"), read(spark, tmp_path / "out")
    assert on_s3_df.count() == on_disk_df.count()
    assert on_s3_df.exceptAll(on_disk_df).count() == 0 == on_disk_df.exceptAll(on_s3_df).count()
    report_keys = buckets.keys("curated", "events/_rebalance_report/")
    assert report_keys == [f"events/_rebalance_report/{name}" for name in REPORT_FILES]
    report = Report.model_validate_json(
        buckets.get("curated", "events/_rebalance_report/report.json")
    )
    assert written.report is not None and report.run_id == written.report.run_id
    assert report.source.rows == ROWS and report.checks_passed
    assert report.output.rows == on_s3_df.count()
    assert local.report is not None and local.report.output.rows == report.output.rows
    markdown = buckets.get("curated", "events/_rebalance_report/report.md")
    assert markdown.startswith(f"# Rebalance report `{report.run_id}`")


def test_a_rerun_is_refused_and_leaves_every_object_as_it_was(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    output = "s3a://curated/rerun"
    run_rebalance(spark, events, output, **HASH)
    before = buckets.keys("curated", "rerun/")
    with pytest.raises(OutputError, match=r"already exists \(a Delta table\)"):
        run_rebalance(spark, events, output, **HASH)
    assert buckets.keys("curated", "rerun/") == before


def test_overwrite_and_an_append_with_a_repeated_run_id(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    output = "s3a://curated/modes"
    first = run_rebalance(spark, events, output, **HASH, **{"output.run_id": "nightly-1"})
    again = run_rebalance(
        spark, events, output, **HASH, **{"output.run_id": "nightly-1", "output.mode": "append"}
    )
    assert again.skipped_as_repeat and again.delta_version == first.delta_version
    assert first.report is not None
    rows = read(spark, output).count()
    assert rows == first.report.output.rows
    overwritten = run_rebalance(
        spark, events, output, **{**HASH, "target.factor": 2, "output.mode": "overwrite"}
    )
    assert overwritten.delta_version > first.delta_version
    assert overwritten.report is not None
    assert read(spark, output).count() == overwritten.report.output.rows > rows
    report = Report.model_validate_json(
        buckets.get("curated", "modes/_rebalance_report/report.json")
    )
    assert report.run_id == overwritten.report.run_id


def test_an_increment_on_s3_decides_only_the_appended_rows(
    spark: SparkSession, buckets: S3Server
) -> None:
    source, output = "s3a://raw/growing", "s3a://curated/growing"
    labelled_df(spark, ROWS, MINORITY_ROWS).write.format("delta").save(source)
    run_rebalance(spark, source, output, **HASH)
    first_ids = {row[0] for row in read(spark, output).select("id").collect()}
    later_df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn("id", F.col("id") + ROWS)
    later_df.write.format("delta").mode("append").save(source)
    increment = run_rebalance(spark, source, output, **HASH, **{"output.incremental": True})
    assert increment.report is not None and increment.report.source.rows == ROWS
    ids = {row[0] for row in read(spark, output).select("id").collect()}
    assert first_ids < ids and all(new >= ROWS for new in ids - first_ids)


def test_a_one_pass_write_taken_back_leaves_no_object(
    spark: SparkSession, buckets: S3Server
) -> None:
    """A first write whose input turns out to hold one class is committed, then taken back:
    no key is left under the output."""
    source = "s3a://raw/majority-only"
    labelled_df(spark, 10_000, 100).filter("label = 0").write.format("delta").save(source)
    stated = {"label.minority": 1, "label.classes": [0, 1], "sample.one_pass": True}
    with pytest.raises(InputError, match="none or only one of the stated classes"):
        run_rebalance(spark, source, "s3a://curated/one-pass", **HASH, **stated)
    assert buckets.keys("curated", "one-pass") == []


def test_a_sweep_on_s3_holds_every_factor(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    output = "s3a://curated/sweep"
    rebalance_table(spark, events, factors=[2.0, 10.0], sampler="hash", sample_key="id").write(
        output
    )
    for factor in (2.0, 10.0):
        counts = dict(select_factor(read(spark, output), factor).groupBy("label").count().collect())
        assert counts[1] == MINORITY_ROWS
        assert within_binomial_bound(counts[0], ROWS - MINORITY_ROWS, 1 / factor)


def test_refused_runs_write_nothing_and_an_empty_bucket_root_is_an_output(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    before = buckets.keys("raw")
    with pytest.raises(OutputError, match="overlaps the input"):
        run_rebalance(spark, events, "s3a://raw/events/rebalanced", **HASH)
    with pytest.raises(OutputError, match="overlaps the input"):
        run_rebalance(spark, events, "s3a://raw/", **HASH)
    assert buckets.keys("raw") == before
    buckets.make_bucket("taken")
    spark.range(3).write.parquet("s3a://taken/ids")
    with pytest.raises(OutputError, match=r"already exists \(a non-empty path\)"):
        run_rebalance(spark, events, "s3a://taken", **HASH)
    buckets.make_bucket("root")
    written = run_rebalance(spark, events, "s3a://root", **HASH)
    assert written.report is not None
    assert read(spark, "s3a://root/").count() == written.report.output.rows
    assert "_rebalance_report/report.json" in buckets.keys("root")


def test_a_catalog_table_located_on_s3_is_an_input(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    spark.sql(f"CREATE TABLE default.s3_events USING DELTA LOCATION '{events}'")
    try:
        written = run_rebalance(
            spark,
            "default.s3_events",
            "s3a://curated/from-table",
            **HASH,
            **{"input.format": "table"},
        )
    finally:
        spark.sql("DROP TABLE default.s3_events")  # the catalog entry only: the files stay
    assert written.report is not None and written.report.source.rows == ROWS
    assert read(spark, events).count() == ROWS


def test_a_killed_command_line_run_on_s3_is_finished_by_its_retry(
    spark: SparkSession, events: str, buckets: S3Server, tmp_path: Path
) -> None:
    """`rebalance run` as a user starts it (its own process, S3A's settings in a config
    file), killed after its data commit; the identical command again finishes the run with
    one data commit and its report."""
    config = tmp_path / "s3.yaml"
    config.write_text(yaml.safe_dump({"spark": {"conf": S3_CONF}}))
    output = "s3a://curated/retried"
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        *["run", "--config", str(config), "--input", events, "--output", output],
        *["--factor", str(FACTOR), "--sampler", "hash", "--sample-key", "id"],
        *["--run-id", "retried", "--master", "local[1]"],
    ]
    killed = subprocess.run(
        command,
        env={**os.environ, FAULT_ENV: "after-data-commit"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert killed.returncode == 137, killed.stderr[-2000:]
    assert "retried/_rebalance_report/report.json" not in buckets.keys("curated", "retried/")
    assert main(command[1:]) == 0
    history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
    assert [commit["operation"] for commit in history].count("WRITE") == 1
    report = Report.model_validate_json(
        buckets.get("curated", "retried/_rebalance_report/report.json")
    )
    assert report.run_id == "retried" and report.checks_passed
    assert report.output.rows == read(spark, output).count()


def test_a_report_written_as_folders_is_read_back_and_replaced_by_objects(
    spark: SparkSession, events: str, buckets: S3Server
) -> None:
    """A report in the folder form (what a Spark Connect client leaves, one part file per
    name) is read back as the report; writing the report again replaces it with an object."""
    output = "s3a://curated/folders"
    written = run_rebalance(spark, events, output, **HASH)
    assert written.report is not None
    report_json = buckets.get("curated", "folders/_rebalance_report/report.json")
    as_folder_df = spark.createDataFrame([(report_json,)], "value string").coalesce(1)
    as_folder_df.write.mode("overwrite").text(f"{output}/_rebalance_report/report.json")
    keys = buckets.keys("curated", "folders/_rebalance_report/report.json")
    assert any(key.startswith("folders/_rebalance_report/report.json/part-") for key in keys)
    assert read_report(spark, Table(output)).run_id == written.report.run_id
    fs.write_text(spark, f"{output}/_rebalance_report/report.json", report_json)
    report_keys = buckets.keys("curated", "folders/_rebalance_report/")
    assert report_keys == [f"folders/_rebalance_report/{name}" for name in REPORT_FILES]
