"""One-pass runs: the source is read once, counts observed during the write, same guarantees."""

from __future__ import annotations

from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance, within_binomial_bound, write_delta
from pyspark.sql import SparkSession
from scans import source_scans, sql_execution_count

from rebalance_lib.api import Written
from rebalance_lib.core.errors import InputError

ROWS, MINORITY_ROWS, FACTOR = 200_000, 2_000, 8


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(
        labelled_df(spark, ROWS, MINORITY_ROWS), tmp_path_factory.mktemp("op") / "in"
    )


def one_pass(spark: SparkSession, source: str, output: Path, **overrides: object) -> Written:
    stated = {"label.minority": 1, "label.classes": [0, 1], "sample.one_pass": True}
    return run_rebalance(spark, source, output, **{"target.factor": FACTOR, **stated, **overrides})


def test_one_pass_reads_the_source_once_and_reports_observed_counts(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    marker = sql_execution_count(spark)
    result = one_pass(spark, source, tmp_path / "out")
    assert source_scans(spark, source, marker) == 1
    report = result.report
    assert report is not None and report.request.source_passes == 1
    assert report.source.rows == ROWS
    by_label = {c.label: c for c in report.classes}
    assert (by_label[0].rows_before, by_label[1].rows_before) == (
        ROWS - MINORITY_ROWS,
        MINORITY_ROWS,
    )
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    counts = dict(output_df.groupBy("label").count().collect())
    assert counts[1] == MINORITY_ROWS
    assert within_binomial_bound(counts[0], ROWS - MINORITY_ROWS, 1 / FACTOR)
    assert (by_label[0].rows_after, by_label[1].rows_after) == (counts[0], counts[1])
    weights = dict(output_df.groupBy("label").agg(F.collect_set("weight")).collect())
    assert weights == {0: [float(FACTOR)], 1: [1.0]}
    assert report.bias_check.verdict == "PASS"


def test_one_pass_gives_the_same_rows_as_two_passes(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    one_pass(spark, source, tmp_path / "one")
    run_rebalance(spark, source, tmp_path / "two", **{"target.factor": FACTOR})
    one_df = spark.read.format("delta").load(str(tmp_path / "one"))
    two_df = spark.read.format("delta").load(str(tmp_path / "two"))
    assert one_df.count() == two_df.count()
    assert one_df.exceptAll(two_df).count() == 0


def test_a_one_pass_overwrite_without_the_minority_restores_the_previous_table(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    first = one_pass(spark, source, output)
    only_majority = write_delta(
        labelled_df(spark, 10_000, 100).filter("label = 0"), tmp_path / "maj"
    )
    with pytest.raises(InputError, match="none or only one of the stated classes"):
        one_pass(spark, only_majority, output, **{"output.mode": "overwrite"})
    assert first.report is not None
    restored_df = spark.read.format("delta").load(str(output))
    first_df = (
        spark.read.format("delta").option("versionAsOf", first.delta_version).load(str(output))
    )
    assert restored_df.count() == first.report.output.rows
    assert restored_df.exceptAll(first_df).count() == 0
