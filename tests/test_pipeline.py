"""The whole job on real local Spark + Delta: output, weights, report, lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, within_binomial_bound, write_delta
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from rebalance_lib.api import Written
from rebalance_lib.cli import run_configured
from rebalance_lib.config import load_config
from rebalance_lib.report.model import Report

ROWS, MINORITY_ROWS, FACTOR = 200_000, 2_000, 10.0


@pytest.fixture(scope="module")
def source_path(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(
        labelled_df(spark, ROWS, MINORITY_ROWS), tmp_path_factory.mktemp("src") / "t"
    )


@pytest.fixture(scope="module")
def result(spark: SparkSession, source_path: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    output = tmp_path_factory.mktemp("out") / "rebalanced"
    config = load_config(
        overrides={"input.source": source_path, "output.path": str(output), "target.factor": FACTOR}
    )
    return run_configured(spark, config)


def run_with(spark: SparkSession, **overrides: Any) -> Written:
    return run_configured(spark, load_config(overrides=overrides))


def test_output_is_a_readable_delta_table_with_counts_in_bound(spark: SparkSession, result) -> None:  # type: ignore[no-untyped-def]
    output_df = spark.read.format("delta").load(result.path)
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    assert counts[1] == MINORITY_ROWS
    majority_rows = ROWS - MINORITY_ROWS
    assert within_binomial_bound(counts[0], majority_rows, 1 / FACTOR), counts


def test_every_minority_row_is_kept_with_its_columns(
    spark: SparkSession, source_path: str, result
) -> None:  # type: ignore[no-untyped-def]
    source_df = spark.read.format("delta").load(source_path).filter("label = 1")
    output_df = spark.read.format("delta").load(result.path).filter("label = 1")
    assert output_df.drop("weight").exceptAll(source_df).count() == 0
    assert source_df.exceptAll(output_df.drop("weight")).count() == 0


def test_weights_are_exact_per_class(spark: SparkSession, result) -> None:  # type: ignore[no-untyped-def]
    output_df = spark.read.format("delta").load(result.path)
    weights = {
        (row["label"], row["weight"])
        for row in output_df.select("label", "weight").distinct().collect()
    }
    assert weights == {(0, FACTOR), (1, 1.0)}


def test_report_files_validate_and_show_the_bias_check_passing(spark: SparkSession, result) -> None:  # type: ignore[no-untyped-def]
    report_dir = Path(result.report_dir)
    report = Report.model_validate_json((report_dir / "report.json").read_text())
    assert report == result.report
    assert report.bias_check.verdict == "PASS"
    assert report.counts_within_bound
    assert report.source.rows == ROWS
    assert report.output.metrics_source == "observation"
    assert report.output.rows == spark.read.format("delta").load(result.path).count()
    assert "**PASS**" in (report_dir / "report.md").read_text()
    assert (report_dir / "class_counts.svg").read_text().startswith("<svg ")


def test_lineage_is_in_delta_history_and_table_properties(
    spark: SparkSession, source_path: str, result
) -> None:  # type: ignore[no-untyped-def]
    table = DeltaTable.forPath(spark, result.path)
    properties = table.detail().select("properties").first()[0]
    assert properties["rebalance.factor"] == "10"
    assert properties["rebalance.source"] == source_path
    assert properties["rebalance.sourceVersion"] == "0"
    assert properties["rebalance.weightColumn"] == "weight"
    metadata = table.history().filter("operation = 'WRITE'").select("userMetadata").first()[0]
    assert json.loads(metadata)["run_id"] == result.report.run_id


def test_source_is_untouched(spark: SparkSession, source_path: str, result) -> None:  # type: ignore[no-untyped-def]
    assert DeltaTable.forPath(spark, source_path).history().count() == 1
    assert spark.read.format("delta").load(source_path).count() == ROWS


def test_parquet_input_and_string_labels(spark: SparkSession, tmp_path: Path) -> None:
    source_df = labelled_df(spark, 30_000, 300).withColumn(
        "label", F.when(F.col("label") == 1, "fraud").otherwise("ok")
    )
    source_df.write.parquet(str(tmp_path / "in"))
    result = run_with(
        spark,
        **{
            "input.source": str(tmp_path / "in"),
            "input.format": "parquet",
            "output.path": str(tmp_path / "out"),
            "target.target_ratio": 10,
        },
    )
    assert result.plan.minority_label == "fraud"
    assert result.report is not None and result.report.bias_check.verdict == "PASS"
    assert result.report.source.format == "parquet"


def test_noop_target_still_writes_every_row_with_its_weight(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 1_000, 100), tmp_path / "in")
    result = run_with(
        spark,
        **{"input.source": source, "output.path": str(tmp_path / "out"), "target.target_ratio": 50},
    )
    assert result.plan.is_noop
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    assert output_df.count() == 1_000
    assert output_df.filter("weight != 1.0").count() == 0


def test_input_weights_are_scaled(spark: SparkSession, tmp_path: Path) -> None:
    source_df = labelled_df(spark, 20_000, 200).withColumn("w", F.lit(0.5) + (F.col("id") % 3))
    source = write_delta(source_df, tmp_path / "in")
    result = run_with(
        spark,
        **{
            "input.source": source,
            "output.path": str(tmp_path / "out"),
            "target.factor": 4,
            "weight.input_column": "w",
        },
    )
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    wrong = output_df.filter(
        F.col("weight") != F.col("w") * F.when(F.col("label") == 0, 4.0).otherwise(1.0)
    )
    assert wrong.count() == 0
    assert result.report is not None and result.report.bias_check.verdict == "PASS"


def test_three_classes_end_to_end(spark: SparkSession, tmp_path: Path) -> None:
    source_df = spark.range(0, 120_000, 1, 4).withColumn(
        "label",
        F.when(F.col("id") % 100 == 0, "rare")
        .when(F.col("id") % 10 == 0, "mid")
        .otherwise("common"),
    )
    source = write_delta(source_df, tmp_path / "in")
    result = run_with(
        spark,
        **{"input.source": source, "output.path": str(tmp_path / "out"), "target.target_ratio": 3},
    )
    plan = result.plan
    assert plan.minority_label == "rare"
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    counts = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    weights = {
        (r["label"], r["weight"]) for r in output_df.select("label", "weight").distinct().collect()
    }
    assert counts["rare"] == 1_200
    for label in ("mid", "common"):
        c = plan.for_label(label)
        assert within_binomial_bound(counts[label], c.rows_before, c.keep_fraction), counts
        assert (label, c.factor) in weights
    assert result.report is not None and result.report.bias_check.verdict == "PASS"


def test_boolean_labels_end_to_end(spark: SparkSession, tmp_path: Path) -> None:
    source_df = labelled_df(spark, 20_000, 400).withColumn("label", F.col("label") == 1)
    source = write_delta(source_df, tmp_path / "in")
    result = run_with(
        spark,
        **{
            "input.source": source,
            "output.path": str(tmp_path / "out"),
            "target.factor": 5,
            "label.minority": "true",
        },
    )
    assert result.plan.minority_label is True
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    weights = {
        (r["label"], r["weight"]) for r in output_df.select("label", "weight").distinct().collect()
    }
    assert weights == {(False, 5.0), (True, 1.0)}
    assert output_df.filter("label").count() == 400
