"""Factor sweeps on real local Spark + Delta: one read, one table, nested samples, exact weights."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance, within_binomial_bound, write_delta
from pyspark.sql import DataFrame, SparkSession
from scans import source_scans, sql_execution_count

from rebalance_lib import rebalance, rebalance_table, select_factor
from rebalance_lib.cli import main
from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.sweep import DRAW_COLUMN, METADATA_KEY
from rebalance_lib.runs import writing

ROWS, MINORITY_ROWS = 200_000, 2_000
FACTORS = [2.0, 5.0, 10.0, 20.0]
SWEEP = {"sampler": "hash", "sample_key": "id", "seed": 11, "input_weight_col": "w"}


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    weighted_df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn(
        "w", (F.col("id") % 3 + 0.5).cast("double")
    )
    return write_delta(weighted_df, tmp_path_factory.mktemp("sweep") / "in")


@pytest.fixture(scope="module")
def sweep_table(spark: SparkSession, source: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    output = str(tmp_path_factory.mktemp("sweep") / "out")
    rebalance_table(spark, source, factors=FACTORS, **SWEEP).write(output)  # type: ignore[arg-type]  # literal sampler
    return output


def read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def class_counts(df: DataFrame) -> dict[int, int]:
    return {row["label"]: row["count"] for row in df.groupBy("label").count().collect()}


@pytest.mark.parametrize("factor", [*FACTORS, 7.5, 50.0])
def test_each_factor_holds_every_minority_row_and_a_binomial_share_of_the_majority(
    spark: SparkSession, sweep_table: str, factor: float
) -> None:
    counts = class_counts(select_factor(read(spark, sweep_table), factor))
    assert counts[1] == MINORITY_ROWS
    assert within_binomial_bound(counts[0], ROWS - MINORITY_ROWS, 1 / factor)


def test_the_rows_of_a_larger_factor_are_among_those_of_every_smaller_one(
    spark: SparkSession, sweep_table: str
) -> None:
    sweep_df = read(spark, sweep_table)
    ids = {f: select_factor(sweep_df, f).select("id") for f in FACTORS}
    for smaller, larger in itertools.pairwise(FACTORS):
        assert ids[larger].count() < ids[smaller].count()
        assert ids[larger].exceptAll(ids[smaller]).count() == 0


@pytest.mark.parametrize("factor", [5.0, 7.5])
def test_selected_weights_are_exactly_the_input_weight_times_the_factor(
    spark: SparkSession, sweep_table: str, factor: float
) -> None:
    selected_df = select_factor(read(spark, sweep_table), factor)
    expected = F.when(F.col("label") == 0, F.col("w") * F.lit(factor)).otherwise(F.col("w"))
    assert selected_df.filter(F.col("weight") != expected).count() == 0
    assert selected_df.filter(F.col("label") == 0).count() > 0


def test_a_factor_selected_from_the_sweep_is_the_single_run_at_that_factor(
    spark: SparkSession, source: str, sweep_table: str
) -> None:
    source_df = read(spark, source)
    single_df = rebalance(source_df, factor=10, **SWEEP).df  # type: ignore[arg-type]  # literal sampler
    selected_df = select_factor(read(spark, sweep_table), 10).drop(DRAW_COLUMN)
    assert single_df.count() == selected_df.count()
    assert single_df.exceptAll(selected_df).count() == 0


def test_the_draw_columns_metadata_survives_delta_and_narrows_on_selection(
    spark: SparkSession, sweep_table: str
) -> None:
    sweep_df = read(spark, sweep_table)
    metadata = sweep_df.schema[DRAW_COLUMN].metadata[METADATA_KEY]
    assert metadata["factors"] == FACTORS and metadata["input_weight_column"] == "w"
    selected_df = select_factor(sweep_df, 10)
    assert selected_df.schema[DRAW_COLUMN].metadata[METADATA_KEY]["factors"] == [10.0, 20.0]
    twice_df = select_factor(selected_df, 20)
    assert twice_df.count() == select_factor(sweep_df, 20).count()


def test_a_factor_below_the_smallest_or_rows_of_no_sweep_are_refused(
    spark: SparkSession, source: str, sweep_table: str
) -> None:
    with pytest.raises(ConfigError, match="below the sweep's smallest factor 2") as raised:
        select_factor(read(spark, sweep_table), 1.5)
    assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match="carry no sweep's draw column"):
        select_factor(read(spark, source), 5)
    with pytest.raises(InputError, match="already has a column 'rebalance_draw'"):
        _ = rebalance(read(spark, sweep_table), factors=[2, 4], **SWEEP).df  # type: ignore[arg-type]  # literal sampler


def test_a_sweep_reads_the_source_as_often_as_a_single_run_and_reports_every_factor(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    settings = {"sample.method": "hash", "sample.key": ["id"], "weight.input_column": "w"}
    marker = sql_execution_count(spark)
    run_rebalance(spark, source, tmp_path / "single", **{"target.factor": 5, **settings})
    single_scans = source_scans(spark, source, marker)
    marker = sql_execution_count(spark)
    written = run_rebalance(
        spark, source, tmp_path / "sweep", **{"sample.factors": FACTORS, **settings}
    )
    assert source_scans(spark, source, marker) == single_scans == 2
    report = written.report
    assert report is not None and report.sweep is not None and report.checks_passed
    assert [f.factor for f in report.sweep.factors] == FACTORS
    for section in report.sweep.factors:
        assert section.minority_rows_after == MINORITY_ROWS
        assert section.bias_check.verdict == "PASS" and section.counts_within_bound
        selected = class_counts(select_factor(read(spark, str(tmp_path / "sweep")), section.factor))
        assert section.rows_after == sum(selected.values())
    assert report.factor == 2.0 and report.output.rows == report.sweep.factors[0].rows_after
    assert any(line.startswith("F=5 is the smallest factor") for line in report.sweep.advice)


def test_each_factor_is_read_back_from_the_output_when_the_write_did_not_report_it(
    spark: SparkSession, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"sample.method": "hash", "sample.key": ["id"], "sample.factors": FACTORS}
    observed = run_rebalance(spark, source, tmp_path / "observed", **settings)
    monkeypatch.setattr(writing, "observed_sweep_totals", lambda *_: None)
    scanned = run_rebalance(spark, source, tmp_path / "scanned", **settings)
    assert observed.report is not None and observed.report.sweep is not None
    assert scanned.report is not None and scanned.report.sweep is not None
    assert "sweep" not in observed.report.timings_s and "sweep" in scanned.report.timings_s
    assert scanned.report.sweep == observed.report.sweep


def test_multiclass_sweeps_divide_every_class_above_the_minority_by_the_capped_factor(
    spark: SparkSession,
) -> None:
    three_df = spark.range(0, 60_000, 1, 4).select(
        "id",
        F.when(F.col("id") % 60 == 0, "rare")
        .when(F.col("id") % 20 == 1, "mid")
        .otherwise("common")
        .alias("label"),
    )
    out = rebalance(three_df, factors=[2, 8], sampler="hash", sample_key="id")
    assert out.sweep is not None and out.plan_at(8).for_label("mid").factor == 3.0
    for factor in (2.0, 8.0):
        plan = out.plan_at(factor)
        selected_df = select_factor(out.df, factor)
        weights = dict(selected_df.groupBy("label").agg(F.collect_set("weight")).collect())
        counts = {
            row["label"]: row["count"] for row in selected_df.groupBy("label").count().collect()
        }
        for c in plan.classes:
            assert weights[c.label] == [c.factor]
            assert within_binomial_bound(counts[c.label], c.rows_before, c.keep_fraction)


def test_the_command_line_runs_a_sweep_and_refuses_the_default_sampler_in_one_line(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["run", "--input", source, "--output", str(tmp_path / "out"), "--factors", "5,10,20"]
    assert main(common) == 2
    assert capsys.readouterr().err.strip() == (
        "rebalance: error: a factor sweep selects every factor from one seeded draw per row, "
        "which only the hash sampler keeps: use the hash sampler with a key "
        "[--sampler hash, --sample-key]"
    )
    assert main([*common, "--sampler", "hash", "--sample-key", "id"]) == 0
    report_dir = tmp_path / "out" / "_rebalance_report"
    report = json.loads((report_dir / "report.json").read_text())
    assert [f["factor"] for f in report["sweep"]["factors"]] == [5.0, 10.0, 20.0]
    assert (
        "## Factor sweep: 3 factors from this one table" in (report_dir / "report.md").read_text()
    )
    assert main([*common, "--sampler", "hash", "--sample-key", "id", "--mode", "append"]) == 2
    assert "write it to a new path or overwrite [--mode overwrite]" in capsys.readouterr().err
    single = ["run", "--input", source, "--output", str(tmp_path / "out"), "--factor", "5"]
    assert main([*single, "--mode", "append"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "holds a factor sweep: its rows are selected by their draw, which appended rows would "
            "lack; write to a new path or overwrite [--mode overwrite]"
        )
    )
    plan = ["plan", "--input", source, "--factors", "5,10,20", "--sampler", "hash"]
    assert main([*plan, "--sample-key", "id"]) == 0
    assert "F=5 is the smallest factor of the sweep" in capsys.readouterr().out
    assert main([*plan, "--sample-key", "id", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["factor"] == 5.0 and [p["factor"] for p in planned["sweep"]] == [5.0, 10.0, 20.0]
