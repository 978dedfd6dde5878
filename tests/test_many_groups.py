"""Thousands of classes and strata: each group's numbers come from a joined plan, so the
cost per row does not grow with the groups, and pages and advice stay readable."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import within_binomial_bound
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib import rebalance
from rebalance_lib.core.plan import SHOWN_CLASSES

MAJOR_ROWS = 30_000
MINOR_CLASSES = 3_000
MINOR_ROWS = 10  # each minor class is as small as the minority: kept whole
USERS = 1_500
USER_NEGATIVES, USER_POSITIVES = 90, 10


@pytest.fixture(scope="module")
def many_classes_df(spark: SparkSession) -> DataFrame:
    """Class 0 with 30,000 rows and classes 1..3,000 with 10 rows each."""
    major = spark.range(MAJOR_ROWS).select("id", F.lit(0).alias("label"))
    minor = spark.range(MINOR_CLASSES * MINOR_ROWS).select(
        (F.col("id") + MAJOR_ROWS).alias("id"),
        (1 + F.col("id") % MINOR_CLASSES).cast("int").alias("label"),
    )
    return major.unionByName(minor).repartition(4)


def physical_plan(df: DataFrame) -> str:
    return df._jdf.queryExecution().executedPlan().toString()  # type: ignore[operator]  # py4j


def test_thousands_of_classes_are_sampled_and_weighted_per_class(
    many_classes_df: DataFrame,
) -> None:
    out = rebalance(many_classes_df, label="label", factor=10, seed=3)
    rows = out.df.groupBy("label").agg(
        F.count(F.lit(1)).alias("rows"), F.collect_set("weight").alias("weights")
    )
    kept = {row["label"]: (row["rows"], set(row["weights"])) for row in rows.collect()}
    assert len(kept) == MINOR_CLASSES + 1
    major_rows, major_weights = kept.pop(0)
    assert within_binomial_bound(major_rows, MAJOR_ROWS, 0.1)
    assert major_weights == {10.0}
    assert all(count == MINOR_ROWS and weights == {1.0} for count, weights in kept.values())
    plan_text = physical_plan(out.df)
    assert "BroadcastHashJoin" in plan_text
    assert "CASE WHEN" not in plan_text
    assert len(out.advice) <= 10  # per-class warnings are summed up, not one line per class


def test_the_report_of_thousands_of_classes_lists_the_largest_and_sums_the_rest(
    many_classes_df: DataFrame, tmp_path: Path
) -> None:
    written = rebalance(many_classes_df, label="label", factor=10, seed=3).write(
        str(tmp_path / "out"), report_dir=str(tmp_path / "report")
    )
    report = written.report
    assert report is not None
    assert len(report.classes) == MINOR_CLASSES + 1  # report.json keeps every class
    assert report.output.metrics_source == "output-scan"  # too many classes to observe
    assert report.bias_check.verdict == "PASS"
    assert report.checks_passed
    page = (tmp_path / "report" / "report.md").read_text()
    lines = page.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| class | rows before"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[header + 2 :]))
    assert len(table) == SHOWN_CLASSES + 1  # the classes shown, then the rest summed
    rest = MINOR_CLASSES + 1 - SHOWN_CLASSES
    assert f"| {rest:,} more classes (each in report.json) |" in page


def test_thousands_of_strata_are_each_downsampled_by_the_factor(spark: SparkSession) -> None:
    rows_per_user = USER_NEGATIVES + USER_POSITIVES
    users_df = spark.range(USERS * rows_per_user).select(
        "id",
        (F.col("id") % USERS).alias("user"),
        ((F.col("id") / USERS).cast("int") < USER_POSITIVES).cast("int").alias("label"),
    )
    out = rebalance(users_df, label="label", strata=["user"], factor=3, seed=5)
    per_user = out.df.groupBy("label").agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("user").alias("users"),
        F.collect_set("weight").alias("weights"),
    )
    kept = {row["label"]: row for row in per_user.collect()}
    assert kept[1]["rows"] == USERS * USER_POSITIVES
    assert set(kept[1]["weights"]) == {1.0}
    assert within_binomial_bound(kept[0]["rows"], USERS * USER_NEGATIVES, 1 / 3)
    assert set(kept[0]["weights"]) == {3.0}
    assert kept[0]["users"] == USERS
    assert "CASE WHEN" not in physical_plan(out.df)
