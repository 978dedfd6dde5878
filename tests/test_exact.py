"""--exact: the planned number of rows per downsampled group, not a Bernoulli approximation."""

from __future__ import annotations

from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.api import Written
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.plan import exact_rows
from rebalance_lib.transforms.exact import pick_threshold

ROWS, MINORITY_ROWS, FACTOR = 300_000, 3_000, 7  # 297,000 / 7 = 42,428.57: not a whole number


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn(
        "country", F.when(F.col("id") % 3 == 0, "NZ").otherwise("US")
    )
    return write_delta(df, tmp_path_factory.mktemp("exact") / "in")


def run(spark: SparkSession, source: str, output: Path, **overrides: object) -> Written:
    exact = {"target.factor": FACTOR, "sample.exact": True, "sample.key": ["id"]}
    return run_rebalance(spark, source, output, **{**exact, **overrides})


def test_pick_threshold_counts_the_rows_below_the_band() -> None:
    pairs = [(0.52, 1), (0.50, 9), (0.50, 3), (0.51, 0)]
    assert pick_threshold(below=10, band_pairs=pairs, wanted=12).u_max == 0.50  # type: ignore[union-attr]
    assert pick_threshold(below=10, band_pairs=pairs, wanted=12).tie_max == 9  # type: ignore[union-attr]
    assert pick_threshold(below=10, band_pairs=pairs, wanted=10) is None  # cut below the band
    assert pick_threshold(below=10, band_pairs=pairs, wanted=15) is None  # cut above it


def test_exact_keeps_the_planned_count_with_nominal_weights(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    result = run(spark, source, tmp_path / "out")
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    counts = dict(output_df.groupBy("label").count().collect())
    planned = exact_rows(ROWS - MINORITY_ROWS, FACTOR)
    assert counts == {0: planned, 1: MINORITY_ROWS}
    weights = dict(output_df.groupBy("label").agg(F.collect_set("weight")).collect())
    assert weights == {0: [float(FACTOR)], 1: [1.0]}
    report = result.report
    assert report is not None and report.request.exact and report.request.source_passes == 3
    assert {c.label: c.rows_after for c in report.classes} == counts
    again = run(spark, source, tmp_path / "again")
    assert again.report is not None
    again_df = spark.read.format("delta").load(str(tmp_path / "again"))
    assert again_df.select("id").exceptAll(output_df.select("id")).count() == 0


def test_realized_weights_restore_each_class_total_exactly(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    run(spark, source, tmp_path / "out", **{"weight.basis": "realized"})
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    totals = {
        row["label"]: (row["rows"], row["weight_sum"])
        for row in output_df.groupBy("label")
        .agg(F.count("*").alias("rows"), F.sum("weight").alias("weight_sum"))
        .collect()
    }
    majority = ROWS - MINORITY_ROWS
    assert totals[0][0] == exact_rows(majority, FACTOR)
    assert totals[0][1] == pytest.approx(majority, rel=1e-12)  # nominal would give 42,429 x 7
    assert totals[1] == (MINORITY_ROWS, MINORITY_ROWS)


def test_exact_counts_hold_in_every_stratum(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    result = run(spark, source, tmp_path / "out", **{"sample.strata": ["country"]})
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    input_df = spark.read.format("delta").load(source)
    before = {(r[0], r[1]): r[2] for r in input_df.groupBy("country", "label").count().collect()}
    after = {(r[0], r[1]): r[2] for r in output_df.groupBy("country", "label").count().collect()}
    for (country, label), rows in before.items():
        expected = rows if label == 1 else exact_rows(rows, FACTOR)
        assert after[(country, label)] == expected, (country, label)
    assert result.report is not None and result.report.strata is not None


def test_realized_weights_need_exact(spark: SparkSession, source: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"realized weights need exact counts.*\[exact=True\]"):
        run(spark, source, tmp_path / "out", **{"sample.exact": False, "weight.basis": "realized"})
    assert not (tmp_path / "out").exists()
