"""The DataFrame API on real local Spark + Delta: any DataFrame in, the same rows as the CLI."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, within_binomial_bound, write_delta
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from scans import job_descriptions, next_job_id, source_scans, sql_execution_count

from rebalance_lib import RebalanceError, rebalance, rebalance_table
from rebalance_lib.cli import main
from rebalance_lib.core.errors import ConfigError, InputError, OutputError, PlanError

ROWS, MINORITY_ROWS, FACTOR = 40_000, 400, 8.0


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(
        labelled_df(spark, ROWS, MINORITY_ROWS), tmp_path_factory.mktemp("api") / "in"
    )


def joined_df(spark: SparkSession) -> DataFrame:
    """A frame no table holds: filtered, joined and derived in the caller's own code."""
    countries_df = spark.createDataFrame(
        [(0, "NZ"), (1, "US"), (2, "FJ")], "bucket int, country string"
    )
    return (
        labelled_df(spark, ROWS, MINORITY_ROWS)
        .filter(F.col("x") >= 0)
        .withColumn("bucket", (F.col("id") % 3).cast("int"))
        .join(countries_df, "bucket")
        .withColumn("is_fraud", F.col("label").cast("string"))
        .drop("label")
    )


def class_counts(df: DataFrame, label_col: str) -> dict[Any, int]:
    return {row[label_col]: row["count"] for row in df.groupBy(label_col).count().collect()}


def kept_ids(df: DataFrame) -> set[int]:
    return {row["id"] for row in df.select("id").collect()}


def test_any_dataframe_is_rebalanced_lazily_on_the_callers_session(spark: SparkSession) -> None:
    input_df = joined_df(spark)
    out = rebalance(input_df, label="is_fraud", factor=FACTOR, seed=7)
    assert out.df.sparkSession is spark
    majority_rows = ROWS - MINORITY_ROWS
    assert out.plan.minority_label == "1"
    assert out.plan.for_label("0").rows_before == majority_rows
    counts = class_counts(out.df, "is_fraud")
    assert counts["1"] == MINORITY_ROWS
    assert within_binomial_bound(counts["0"], majority_rows, 1 / FACTOR), counts
    weights = {(row[0], row[1]) for row in out.df.select("is_fraud", "weight").distinct().collect()}
    assert weights == {("0", FACTOR), ("1", 1.0)}
    assert set(out.df.columns) == {*input_df.columns, "weight"}


def test_write_commits_a_readable_delta_table_with_its_report(
    spark: SparkSession, tmp_path: Path
) -> None:
    out = rebalance(joined_df(spark), label="is_fraud", factor=FACTOR, seed=7)
    written = out.write(str(tmp_path / "out"), run_id="notebook-1")
    assert written.delta_version == 0 and not written.skipped_as_repeat
    output_df = spark.read.format("delta").load(written.path)
    assert class_counts(output_df, "is_fraud") == class_counts(out.df, "is_fraud")
    report = written.report
    assert report is not None and report.bias_check.verdict == "PASS"
    assert report.source.format == "dataframe" and report.source.rows == ROWS
    assert report.output.rows == output_df.count()
    assert (Path(str(written.report_dir)) / "report.json").is_file()
    properties = DeltaTable.forPath(spark, written.path).detail().first()["properties"]  # type: ignore[index]
    assert properties["rebalance.runId"] == "notebook-1"
    again = out.write(str(tmp_path / "out"), mode="append", run_id="notebook-1")
    assert again.skipped_as_repeat and again.report is None


def test_the_api_keeps_the_rows_the_cli_writes_with_the_hash_sampler(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "cli")
    flags = ["--factor", "5", "--sampler", "hash", "--sample-key", "id", "--seed", "3"]
    assert main(["run", "--input", source, "--output", output, *flags]) == 0
    cli_ids = kept_ids(spark.read.format("delta").load(output))
    options: dict[str, Any] = {"factor": 5, "sampler": "hash", "sample_key": "id", "seed": 3}
    from_frame = rebalance(spark.read.format("delta").load(source), **options)
    from_table = rebalance_table(spark, source, **options)
    assert kept_ids(from_frame.df) == cli_ids
    assert kept_ids(from_table.df) == cli_ids
    assert MINORITY_ROWS < len(cli_ids) < ROWS


def test_one_pass_through_the_api_reads_the_counts_while_writing(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    out = rebalance_table(spark, source, one_pass=True, factor=4, minority=1, classes=[0, 1])
    assert out.plan.rows_before == 0  # stated, not counted
    written = out.write(str(tmp_path / "out"))
    assert written.plan.for_label(0).rows_before == ROWS - MINORITY_ROWS
    assert written.report is not None and written.report.request.source_passes == 1


BAD_ARGUMENTS = [
    ({}, PlanError, "state exactly one target of factor, target_ratio"),
    ({"factor": 0.5}, PlanError, "factor must be at least 1 (got 0.5)"),
    ({"factor": 2, "max_rows": 9}, PlanError, "got factor, max_rows"),
    ({"factor": 2, "sampler": "hash"}, ConfigError, "the hash sampler draws from a key"),
    ({"factor": 2, "weight_basis": "realized"}, ConfigError, "[exact=True]"),
    ({"factor": 2, "sampler": "random"}, ConfigError, "sampler must be one of sampleBy, hash"),
    ({"factor": 2, "facter": 3}, ConfigError, "unknown option(s) facter"),
    ({"factor": 2, "label": "y"}, InputError, "label column 'y' not found"),
    ({"factor": 2, "weight_col": ""}, ConfigError, "weight col needs a name"),
    ({"factor": 2, "null_labels": "keep"}, ConfigError, "null labels must be one of error, drop"),
]


@pytest.mark.parametrize(("arguments", "error_type", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_one_clear_error(
    spark: SparkSession,
    arguments: dict[str, Any],
    error_type: type[RebalanceError],
    message: str,
) -> None:
    with pytest.raises(error_type) as raised:
        rebalance(labelled_df(spark, 1_000, 100), **arguments)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_dataframe_is_never_written_over_its_own_input(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = write_delta(labelled_df(spark, 2_000, 100), tmp_path / "in")
    files_before = sorted(Path(path).rglob("*"))
    out = rebalance(spark.read.format("delta").load(path), factor=2)
    with pytest.raises(OutputError, match="holds files the input is read from"):
        out.write(path, mode="overwrite")
    assert sorted(Path(path).rglob("*")) == files_before
    assert DeltaTable.forPath(spark, path).history().count() == 1


A_COLUMN = "the label as a Column"  # built once a session runs
BAD_ARGUMENTS = [
    ({"label": A_COLUMN}, "label must be a column name (got Column<'label'>, a Column)"),
    ({"factor": "5"}, "factor must be a number (got '5', a str) [factor]"),
    ({"factor": True}, "factor must be a number (got True, a bool)"),
    ({"seed": 1.5}, "seed must be a whole number (got 1.5, a float)"),
    ({"strata": "country"}, "strata must be a list of column names (got 'country', a str)"),
    ({"exact": "yes"}, "exact must be True or False (got 'yes', a str)"),
    ({"factors": [2, "4"]}, "factors must be a list of numbers (got [2, '4'], a list)"),
]


@pytest.mark.parametrize(
    ("arguments", "message"), BAD_ARGUMENTS, ids=[next(iter(a)) for a, _ in BAD_ARGUMENTS]
)
def test_an_argument_of_the_wrong_type_is_refused_by_name_before_any_spark_job(
    spark: SparkSession, arguments: dict[str, Any], message: str
) -> None:
    rows_df = labelled_df(spark, 100, 10)
    arguments = {
        name: F.col("label") if value == A_COLUMN else value for name, value in arguments.items()
    }
    marker = sql_execution_count(spark)
    with pytest.raises(ConfigError) as refused:
        rebalance(rows_df, **{"factor": 2, **arguments})
    assert message in str(refused.value)
    assert sql_execution_count(spark) == marker


def test_a_table_argument_of_the_wrong_type_is_refused_by_name(spark: SparkSession) -> None:
    with pytest.raises(ConfigError, match=r"version must be a whole number \(got '3', a str\)"):
        rebalance_table(spark, "/nowhere", version="3", factor=2)  # type: ignore[arg-type]  # the wrong type is the point


def test_a_streaming_dataframe_is_refused_as_rebalance_is_a_batch_job(spark: SparkSession) -> None:
    stream_df = spark.readStream.format("rate").load().withColumn("label", F.col("value") % 2)
    with pytest.raises(InputError, match=r"streaming DataFrame.*from foreachBatch"):
        rebalance(stream_df, factor=2)


@pytest.mark.parametrize("duplicated", ["label", "x"])
def test_two_columns_of_one_name_are_refused_naming_them_before_any_spark_job(
    spark: SparkSession, duplicated: str
) -> None:
    rows_df = labelled_df(spark, 100, 10).select("*", F.col(duplicated).alias(duplicated.upper()))
    marker = sql_execution_count(spark)
    with pytest.raises(InputError, match=f"several columns named {duplicated}: rename or drop"):
        rebalance(rows_df, factor=2)
    assert sql_execution_count(spark) == marker


def test_each_micro_batch_of_a_stream_is_rebalanced_from_foreach_batch(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "out")

    def rebalance_batch(batch_df: DataFrame, batch_id: int) -> None:
        rebalance(batch_df, factor=FACTOR).write(output, mode="append", run_id=f"b-{batch_id}")

    query = (
        spark.readStream.format("delta")
        .load(source)
        .writeStream.foreachBatch(rebalance_batch)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    output_df = spark.read.format("delta").load(output)
    assert output_df.filter(F.col("label") == 1).count() == MINORITY_ROWS
    assert within_binomial_bound(
        output_df.filter(F.col("label") == 0).count(), ROWS - MINORITY_ROWS, 1 / FACTOR
    )


def test_every_job_of_a_run_names_its_phase_and_the_callers_description_is_back(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "out")
    context = spark.sparkContext
    context.setJobDescription("train the fraud model")
    first_job = next_job_id(spark)
    try:
        rebalanced = rebalance_table(spark, source, factor=FACTOR, exact=True)
        assert context.getLocalProperty("spark.job.description") == "train the fraud model"
        rebalanced.write(output)
        assert context.getLocalProperty("spark.job.description") == "train the fraud model"
    finally:
        context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    descriptions = job_descriptions(spark, first_job)
    ours = [text for text in descriptions.values() if text and text.startswith("rebalance: ")]
    unnamed = {
        job: text
        for job, text in descriptions.items()
        if not (text or "").startswith(("rebalance: ", "Delta: "))
    }
    assert not unnamed, unnamed
    for phase in (
        f"rebalance: count classes of 'label' in {source} @ v0",
        f"rebalance: exact cut for 1 downsampled class of {source} @ v0",
        f"rebalance: sample and write {output} (factor 8)",
        f"rebalance: count each class per batch of 128 of {output} in file order",
    ):
        assert phase in ours, (phase, "\n".join(sorted(set(ours))))
    planned = rebalance(labelled_df(spark, 2_000, 100), factor=FACTOR)  # counts: one job
    assert planned.plan.rows_before == 2_000
    assert context.getLocalProperty("spark.job.description") is None


def test_threads_handed_one_copy_of_the_callers_properties_keep_their_own_descriptions(
    spark: SparkSession,
) -> None:
    """A validator's worker threads share one copy of the caller's local properties."""
    from pyspark.util import inheritable_thread_target

    from rebalance_lib.storage.jobs import described

    context = spark.sparkContext
    both_inside = threading.Barrier(2)
    seen: dict[str, list[str | None]] = {}

    def fit(name: str) -> None:
        with described(spark, name):
            both_inside.wait(timeout=30)
            inside = context.getLocalProperty("spark.job.description")
            both_inside.wait(timeout=30)
        seen[name] = [inside, context.getLocalProperty("spark.job.description")]

    context.setJobDescription("cross-validate")
    try:
        worker = inheritable_thread_target(fit)
        threads = [threading.Thread(target=worker, args=(name,)) for name in ("fold 1", "fold 2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
    assert seen == {
        "fold 1": ["rebalance: fold 1", "cross-validate"],
        "fold 2": ["rebalance: fold 2", "cross-validate"],
    }


def test_a_bad_output_is_refused_before_a_row_is_read(spark: SparkSession, tmp_path: Path) -> None:
    """``write`` checks the output before the input is counted, through either function: a
    table's source is never scanned, and a DataFrame whose every row fails is never read."""
    source = write_delta(labelled_df(spark, 1_000, 100), tmp_path / "in")
    taken = write_delta(labelled_df(spark, 10, 5), tmp_path / "taken")
    since = sql_execution_count(spark)
    from_table = rebalance_table(spark, source, factor=2)
    with pytest.raises(OutputError, match="already exists"):
        from_table.write(taken)
    with pytest.raises(OutputError, match="overlaps the input"):
        from_table.write(source, mode="overwrite")
    assert source_scans(spark, source, since) == 0
    unreadable_df = labelled_df(spark, 1_000, 100).withColumn(
        "label",
        F.when(F.col("id") >= 0, F.raise_error(F.lit("a row was read"))).otherwise(F.col("label")),
    )
    from_df = rebalance(unreadable_df, factor=2)
    with pytest.raises(OutputError, match="already exists"):
        from_df.write(taken)
    with pytest.raises(Exception, match="a row was read"):
        _ = from_df.plan  # the rows are read on first use, and not before
