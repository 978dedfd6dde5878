"""Tables shaped like real ones, and hostile paths: nothing crashes late, nothing is lost."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, within_binomial_bound, write_delta
from pyspark.sql import SparkSession
from pyspark.sql import types as T
from scans import source_scans, sql_execution_count

from rebalance_lib import rebalance
from rebalance_lib.cli import main
from rebalance_lib.core.errors import InputError
from rebalance_lib.core.tables import Table
from rebalance_lib.report.model import Report
from rebalance_lib.runs import writing
from rebalance_lib.storage import fs

# Delta keeps names with spaces only in tables that map names to physical columns.
COLUMN_MAPPING = {
    "delta.columnMapping.mode": "name",
    "delta.minReaderVersion": "2",
    "delta.minWriterVersion": "5",
}


def fingerprint(folder: str) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`rebalance run ...` in this process: exit code, stdout, the last stderr line."""
    exit_code = main(["run", *args])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("rebalance:")]
    return exit_code, captured.out, errors[-1] if errors else ""


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(labelled_df(spark, 4_000, 100), tmp_path_factory.mktemp("real") / "in")


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("s3a://raw/events", "s3a://curated/events", False),  # two buckets, one table name
        ("s3a://curated", "s3a://raw/events", False),  # a bucket's root, another bucket
        ("s3a://raw", "s3a://raw/events", True),  # the root of the input's own bucket
        ("s3a://raw/events/", "s3a://raw/events", True),
        ("s3a://raw/events/../events", "s3a://raw/events/day=1", True),
        ("s3a://raw/events", "gs://raw/events", False),
        ("abfss://c@acct.dfs.core.windows.net/t", "abfss://d@acct.dfs.core.windows.net/t", False),
    ],
)
def test_object_store_paths_overlap_only_within_one_bucket(
    spark: SparkSession, first: str, second: str, overlap: bool
) -> None:
    assert fs.overlaps(spark, first, second) is overlap
    assert fs.overlaps(spark, second, first) is overlap


@pytest.mark.parametrize(
    ("output_of", "report_of", "refusal"),
    [
        (
            lambda root: root / "link-to-input",
            None,
            "(symlinks followed): write to a separate path [--output]",
        ),
        (lambda root: root / "elsewhere" / ".." / "in", None, "overlaps the input"),
        (lambda root: root / "out", lambda root: root / "link-to-input", "report folder"),
        (lambda root: root / "out", lambda root: root / "in" / "_report", "report folder"),
        (lambda root: root / "a-file" / "out", None, "is a file, not a folder"),
    ],
    ids=[
        "output symlinked to the input",
        "output = input via ..",
        "report dir symlinked",
        "report dir inside the input",
        "output under a file",
    ],
)
def test_outputs_that_would_touch_the_input_or_cannot_be_written_are_refused_before_reading(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output_of,  # type: ignore[no-untyped-def]
    report_of,  # type: ignore[no-untyped-def]
    refusal: str,
) -> None:
    source = write_delta(labelled_df(spark, 2_000, 100), tmp_path / "in")
    (tmp_path / "link-to-input").symlink_to(tmp_path / "in")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    before = fingerprint(source)
    report = ["--report-dir", str(report_of(tmp_path))] if report_of else []
    marker = sql_execution_count(spark)
    exit_code, _, line = run(
        capsys,
        *["--input", source, "--output", str(output_of(tmp_path)), "--factor", "2"],
        *["--mode", "overwrite", *report],
    )
    assert exit_code == 2 and line.startswith("rebalance: error: ") and refusal in line, line
    assert source_scans(spark, source, marker) == 0
    assert fingerprint(source) == before
    assert not (tmp_path / "out").exists()


def test_a_double_label_of_whole_numbers_is_rebalanced_and_keeps_its_type(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    double_df = labelled_df(spark, 20_000, 400).withColumn("label", F.col("label").cast("double"))
    source = write_delta(double_df, tmp_path / "in")
    output = str(tmp_path / "out")
    exit_code, printed, _ = run(
        capsys, "--input", source, "--output", output, "--factor", "5", "--minority", "1"
    )
    assert exit_code == 0
    output_df = spark.read.format("delta").load(output)
    assert output_df.schema["label"].dataType == T.DoubleType()
    counts = dict(output_df.groupBy("label").count().collect())
    assert counts[1.0] == 400 and within_binomial_bound(counts[0.0], 19_600, 1 / 5)
    weights = dict(output_df.groupBy("label").agg(F.collect_set("weight")).collect())
    assert weights == {0.0: [5.0], 1.0: [1.0]}
    assert "Prediction-bias check**: **PASS**" in printed


def test_a_double_label_with_fractions_is_refused_in_one_line(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores_df = labelled_df(spark, 2_000, 100).withColumn("label", F.col("x") / 10)
    source = write_delta(scores_df, tmp_path / "in")
    exit_code, _, line = run(
        capsys, "--input", source, "--output", str(tmp_path / "out"), "--factor", "2"
    )
    assert exit_code == 2
    assert "that are not whole numbers (0.1, 0.2, 0.3)" in line and "[--label]" in line, line
    assert not (tmp_path / "out").exists()


def test_column_names_with_dots_and_spaces_work_in_every_option(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd_df = (
        labelled_df(spark, 30_000, 600)
        .withColumnRenamed("label", "y.is fraud")
        .withColumnRenamed("id", "user.id")
        .withColumn("w.in", F.lit(2.0))
        .withColumn("geo.country", F.when(F.col("x") < 50, "NZ").otherwise("US"))
        .withColumn("the split", F.when(F.col("x") < 80, "train").otherwise("test"))
    )
    source = str(tmp_path / "in")
    odd_df.write.format("delta").options(**COLUMN_MAPPING).save(source)
    output = str(tmp_path / "out")
    exit_code, _, line = run(
        capsys,
        *["--input", source, "--output", output, "--factor", "4", "--label", "y.is fraud"],
        *["--input-weight-col", "w.in", "--weight-col", "w.out", "--strata", "geo.country"],
        *["--split-col", "the split", "--train-value", "train"],
        *["--sampler", "hash", "--sample-key", "user.id", "--exact"],
    )
    assert exit_code == 0, line
    output_df = spark.read.format("delta").load(output)
    weights = {
        (row[0], row[1], row[2])
        for row in output_df.select("`y.is fraud`", "`the split`", "`w.out`").distinct().collect()
    }
    assert weights == {(0, "train", 8.0), (1, "train", 2.0), (0, "test", 2.0), (1, "test", 2.0)}


def test_exact_and_the_hash_sampler_with_a_map_column(spark: SparkSession) -> None:
    mapped_df = labelled_df(spark, 10_000, 200).withColumn(
        "attributes", F.create_map(F.lit("x"), F.col("x"))
    )
    out = rebalance(mapped_df, factor=4, exact=True)
    assert dict(out.df.groupBy("label").count().collect()) == {0: 2_450, 1: 200}
    with pytest.raises(InputError, match="hold maps or variants"):
        rebalance(mapped_df, factor=4, sampler="hash", sample_key="attributes").df.count()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "18446744073709551616"], "seed must fit in 64 bits"),
        (["--set", "sample.seed=[1"], "the value is not valid YAML"),
        (["--weight-col", ""], "weight col needs a name [--weight-col]"),
    ],
)
def test_odd_options_are_one_line_errors(
    source: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    exit_code, _, line = run(
        capsys, "--input", source, "--output", str(tmp_path / "out"), "--factor", "2", *flags
    )
    assert exit_code == 2 and message in line, line
    assert "Traceback" not in capsys.readouterr().err


def test_the_printed_versions_are_the_data_commit_and_the_table_after_its_lineage(
    spark: SparkSession, source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = str(tmp_path / "out")
    assert run(capsys, "--input", source, "--output", output, "--factor", "2")[0] == 0
    last = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").first()["version"]  # type: ignore[index]
    assert last == 1
    exit_code, printed, _ = run(
        capsys, "--input", source, "--output", output, "--factor", "2", "--mode", "overwrite"
    )
    assert exit_code == 0
    assert "data committed as Delta version 2, table at version 3 with its lineage" in printed
    assert os.path.isdir(output)


def test_a_run_whose_own_checks_fail_keeps_its_commit_and_exits_4(
    spark: SparkSession,
    source: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault that drops the upweighting: the bias check fails after the commit."""

    def unweighted(df, group_cols, weight_multipliers, weight_col, input_weight_col):  # type: ignore[no-untyped-def]
        return df.withColumn(weight_col, F.lit(1.0))

    monkeypatch.setattr(writing, "with_group_weight", unweighted)
    output = tmp_path / "out"
    exit_code, printed, line = run(
        capsys, "--input", source, "--output", str(output), "--factor", "10"
    )
    assert exit_code == 4
    assert "the output was committed (Delta version 0) but its own checks failed" in line
    report = Report.model_validate_json((output / "_rebalance_report" / "report.json").read_text())
    assert not report.checks_passed and report.bias_check.verdict == "FAIL"
    assert "**Checks**: FAIL (exit code 4)" in printed
    assert spark.read.format("delta").load(str(output)).count() == report.output.rows


def test_the_output_keeps_the_inputs_partition_columns_unless_told_otherwise(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partitioned_df = labelled_df(spark, 8_000, 200).withColumn(
        "day", F.when(F.col("x") < 50, "2026-11-26").otherwise("2026-11-27")
    )
    source = str(tmp_path / "in")
    partitioned_df.write.format("delta").partitionBy("day").save(source)
    common = ["--input", source, "--factor", "4"]

    def partitions(output: str) -> list[str]:
        return spark.sql(f"DESCRIBE DETAIL delta.`{output}`").first()["partitionColumns"]  # type: ignore[index]

    assert run(capsys, *common, "--output", str(tmp_path / "kept"))[0] == 0
    assert partitions(str(tmp_path / "kept")) == ["day"]
    assert run(capsys, *common, "--output", str(tmp_path / "flat"), "--partition-by", "")[0] == 0
    assert partitions(str(tmp_path / "flat")) == []
    exit_code, _, line = run(
        capsys, *common, "--output", str(tmp_path / "bad"), "--partition-by", "hour"
    )
    assert exit_code == 2 and "partition column(s) hour are not columns" in line, line
    assert not (tmp_path / "bad").exists()


def test_the_output_keeps_the_inputs_clustering_columns_unless_told_otherwise(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(tmp_path / "in")
    labelled_df(spark, 8_000, 200).write.format("delta").save(source)
    spark.sql(f"ALTER TABLE delta.`{source}` CLUSTER BY (x)")  # Delta's writer ignores clusterBy
    common = ["--input", source, "--factor", "4"]

    def layout(output: str) -> tuple[list[str], list[str]]:
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{output}`").first()
        assert detail is not None
        return detail["partitionColumns"], detail["clusteringColumns"]

    assert layout(source) == ([], ["x"])
    assert run(capsys, *common, "--output", str(tmp_path / "kept"))[0] == 0
    assert layout(str(tmp_path / "kept")) == ([], ["x"])
    assert run(capsys, *common, "--output", str(tmp_path / "by_id"), "--cluster-by", "id")[0] == 0
    assert layout(str(tmp_path / "by_id")) == ([], ["id"])
    partitioned = str(tmp_path / "partitioned")
    assert run(capsys, *common, "--output", partitioned, "--partition-by", "label")[0] == 0
    assert layout(partitioned) == (["label"], [])
    exit_code, _, line = run(
        capsys,
        *common,
        "--output",
        str(tmp_path / "both"),
        "--partition-by",
        "label",
        "--cluster-by",
        "x",
    )
    assert exit_code == 2 and "either partitioned or clustered" in line, line
    assert not (tmp_path / "both").exists()


def test_the_newest_version_is_read_off_the_log_as_delta_history_says(
    spark: SparkSession, tmp_path: Path
) -> None:
    from rebalance_lib.storage.source import read_source

    path = str(tmp_path / "table")
    labelled_df(spark, 1_000, 10).write.format("delta").option(
        "delta.checkpointInterval", "2"
    ).save(path)
    for _ in range(4):  # checkpoints, .crc files and _last_checkpoint beside the commits
        labelled_df(spark, 100, 10).write.format("delta").mode("append").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 10")
    (tmp_path / "link").symlink_to(tmp_path / "table")
    newest = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg(F.max("version")).first()
    assert newest is not None and newest[0] == 5
    for name in (path, str(tmp_path / "link")):
        rows_df, source = read_source(spark, name)
        assert source.delta_version == 5
        assert rows_df.count() == 1_000 + 4 * 100 - 5 * 10  # ids 0-9 in each write


def test_a_writes_commit_is_found_alike_in_the_log_files_and_in_the_history(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebalance_lib.storage import delta_sql

    path = str(tmp_path / "table")
    for tag in ("first", "second", "other"):
        labelled_df(spark, 100, 10).write.format("delta").mode("append").option(
            "userMetadata", tag
        ).save(path)
    questions = [("second", None), ("second", 1), ("missing", None)]  # 1: only commits after it

    def ask() -> list[tuple[int | None, int]]:
        table = Table(path)
        return [delta_sql.tagged_version(spark, table, tag, after) for tag, after in questions]

    from_log_files = ask()
    assert from_log_files == [(1, 2), (None, 2), (None, 2)]
    monkeypatch.setattr(fs, "local_folder", lambda spark, folder: None)  # as over Connect
    assert ask() == from_log_files
