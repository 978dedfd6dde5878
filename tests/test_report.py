"""The report proves the result: schema, bias check, pinned source version, one write pass."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance, write_delta
from pyspark.sql import SparkSession
from scans import source_scans, sql_execution_count

from rebalance_lib.api import Written
from rebalance_lib.cli import main
from rebalance_lib.core.checks import ClassOutcome, check_prediction_bias
from rebalance_lib.report.model import Report, report_json_schema
from rebalance_lib.runs import writing
from rebalance_lib.transforms import measure

SCHEMA_FILE = Path(__file__).parents[1] / "docs" / "report.schema.json"


@pytest.fixture(scope="module")
def versioned_source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_delta(labelled_df(spark, 40_000, 400), tmp_path_factory.mktemp("v") / "src")
    labelled_df(spark, 4_000, 40).write.format("delta").mode("append").save(path)  # version 1
    return path


def run(spark: SparkSession, source: str, output: Path, **overrides: object) -> Written:
    return run_rebalance(spark, source, output, **{"target.factor": 8, **overrides})


def test_source_is_scanned_once_to_plan_and_once_to_write(
    spark: SparkSession, versioned_source: str, tmp_path: Path
) -> None:
    marker = sql_execution_count(spark)
    result = run(spark, versioned_source, tmp_path / "out")
    assert result.report is not None and result.report.output.metrics_source == "observation"
    assert source_scans(spark, versioned_source, marker) == 2


def test_recorded_source_version_is_the_one_read(
    spark: SparkSession, versioned_source: str, tmp_path: Path
) -> None:
    latest = run(spark, versioned_source, tmp_path / "latest")
    pinned = run(spark, versioned_source, tmp_path / "pinned", **{"input.version": 0})
    assert latest.report is not None and pinned.report is not None
    assert (latest.report.source.delta_version, latest.report.source.rows) == (1, 44_000)
    assert (pinned.report.source.delta_version, pinned.report.source.rows) == (0, 40_000)
    properties = spark.sql(f"SHOW TBLPROPERTIES delta.`{tmp_path / 'pinned'}`").collect()
    assert {row["key"]: row["value"] for row in properties}["rebalance.sourceVersion"] == "0"


def test_bias_check_fails_on_an_unweighted_output(
    spark: SparkSession, versioned_source: str, tmp_path: Path
) -> None:
    result = run(spark, versioned_source, tmp_path / "out")
    assert result.report is not None and result.report.bias_check.verdict == "PASS"
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    kept_rows = {row["label"]: row["count"] for row in output_df.groupBy("label").count().collect()}
    unweighted = {
        c.label: ClassOutcome(
            c.rows_before,
            c.rows_before,
            c.rows_before,
            c.factor,
            kept_rows[c.label],
            float(kept_rows[c.label]),
        )
        for c in result.plan.classes
    }
    assert not check_prediction_bias(unweighted).passed


def test_whole_keys_are_checked_against_the_variance_of_their_sizes(
    spark: SparkSession, tmp_path: Path
) -> None:
    """220 users of 20 rows each, every row of a user in one class: the hash sampler keeps or
    drops each majority user whole, so the kept count varies 20 times as much as rows'."""
    users_df = (
        spark.range(0, 4_400, 1, 2)
        .withColumn("user_id", F.col("id") % 220)
        .withColumn("label", (F.col("user_id") < 20).cast("int"))
    )
    source = write_delta(users_df, tmp_path / "users")
    sampling = {"sample.method": "hash", "sample.key": ["user_id"], "target.factor": 4}
    result = run_rebalance(spark, source, tmp_path / "out", **sampling)
    assert result.report is not None and result.report.checks_passed
    majority = result.report.classes[0]
    assert (majority.label, majority.rows_before, majority.rows_after % 20) == (0, 4_000, 0)
    key_sd = math.sqrt((1 - 1 / 4) * 1_000 * 20)  # (1 - p) x expected rows x rows per key
    deviation = majority.rows_after - majority.expected_rows_after
    assert majority.deviation_sigmas == pytest.approx(deviation / key_sd)


def test_metrics_fall_back_to_reading_the_output_when_not_observed(
    spark: SparkSession, versioned_source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed = run(spark, versioned_source, tmp_path / "observed", **{"sample.seed": 5})
    monkeypatch.setattr(writing, "observed_class_totals", lambda *_: None)
    scanned = run(spark, versioned_source, tmp_path / "scanned", **{"sample.seed": 5})
    assert observed.report is not None and scanned.report is not None
    assert scanned.report.output.metrics_source == "output-scan"
    assert [c.rows_after for c in scanned.report.classes] == [
        c.rows_after for c in observed.report.classes
    ]


def test_unfinished_observation_is_not_waited_for(spark: SparkSession) -> None:
    weighted_df = labelled_df(spark, 100, 10).withColumn("weight", F.lit(2.0))
    observed_df, observation = measure.observe_class_totals(weighted_df, [0, 1], "label", "weight")
    assert measure.observed_class_totals(observation, [0, 1], ran=False) is None
    observed_df.count()
    assert measure.observed_class_totals(observation, [0, 1], ran=True) == {
        0: (90, 180.0),
        1: (10, 20.0),
    }


def test_report_files_match_the_documented_schema(
    spark: SparkSession, versioned_source: str, tmp_path: Path
) -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == report_json_schema()
    result = run(spark, versioned_source, tmp_path / "out")
    report_dir = Path(str(result.report_dir))
    Report.model_validate_json((report_dir / "report.json").read_text())
    assert (
        "![class counts before and after](class_counts.svg)"
        in (report_dir / "report.md").read_text()
    )


def test_chart_draws_every_class_on_a_log_axis(
    spark: SparkSession, versioned_source: str, tmp_path: Path
) -> None:
    result = run(spark, versioned_source, tmp_path / "out")
    chart = ET.parse(Path(str(result.report_dir)) / "class_counts.svg").getroot()
    svg = "{http://www.w3.org/2000/svg}"
    bars = {
        (bar.get("data-series"), bar.get("data-label")): (
            float(bar.get("data-value", "nan")),
            float(bar.get("height", "nan")),
        )
        for bar in chart.iter(f"{svg}rect")
        if bar.get("class") == "bar"
    }
    report = result.report
    assert report is not None
    for section in report.classes:
        label = str(section.label)
        assert bars[("rows before", label)][0] == section.rows_before
        assert bars[("rows after", label)][0] == section.rows_after
        assert bars[("weighted total after", label)][0] == pytest.approx(
            section.weighted_total_after, rel=1e-5
        )
    # The minority is ~1% of the rows: on a log axis its bar stays visible.
    texts = [text.text or "" for text in chart.iter(f"{svg}text")]
    assert "rows (log scale)" in texts
    assert 0 < bars[("rows before", "1")][1] < bars[("rows before", "0")][1]
    assert any(f"bias check {report.bias_check.verdict}" in text for text in texts)


def test_report_command_reprints_summary_and_lineage(
    spark: SparkSession, versioned_source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(spark, versioned_source, tmp_path / "out", **{"output.run_id": "nightly-1"})
    capsys.readouterr()
    assert main(["report", "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "# Rebalance report `nightly-1`" in printed
    assert f"version {result.delta_version}" in printed
    assert f"source {versioned_source} @ 1" in printed
