"""A run into one partition: a daily job's rerun replaces its own day and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance, within_binomial_bound, write_delta
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.api import Written
from rebalance_lib.cli import main
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.options import OutputPartition
from rebalance_lib.report.model import Report

ROWS, MINORITY_ROWS, FACTOR = 30_000, 600, 5
DAY_1, DAY_2 = "2026-11-23", "2026-11-24"


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    events_df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn(
        "region", (F.col("id") % 3).cast("string")
    )
    return write_delta(events_df, tmp_path_factory.mktemp("daily") / "events")


def day_df(spark: SparkSession, output: Path, day: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(str(output)).filter(F.col("ds") == day)


def write_day(
    spark: SparkSession, source: str, output: Path, day: str, **settings: object
) -> Written:
    return run_rebalance(
        spark,
        source,
        output,
        **{
            "target.factor": FACTOR,
            "output.mode": "overwrite",
            "output.into_partition": {"ds": day},
            **settings,
        },
    )


def into_day(
    spark: SparkSession, source: str, output: Path, day: str, **settings: object
) -> Report:
    report = write_day(spark, source, output, day, **settings).report
    assert report is not None
    return report


def test_a_rerun_of_one_day_replaces_that_day_only(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = tmp_path / "rebalanced"
    into_day(spark, source, output, DAY_1, **{"sample.seed": 1})
    second = into_day(spark, source, output, DAY_2, **{"sample.seed": 2})
    day_2_before = day_df(spark, output, DAY_2)
    day_2_rows = day_2_before.count()
    assert day_2_rows == second.output.rows

    # The rerun of day 1 plans per region, so its report reads the output back: only day 1.
    rerun = into_day(
        spark, source, output, DAY_1, **{"sample.seed": 3, "sample.strata": ["label", "region"]}
    )

    table_df = spark.read.format("delta").load(str(output))
    days = dict(table_df.groupBy("ds").count().collect())
    assert set(days) == {DAY_1, DAY_2}
    assert days[DAY_2] == day_2_rows
    assert day_df(spark, output, DAY_2).exceptAll(day_2_before).count() == 0
    assert days[DAY_1] == rerun.output.rows
    day_1_counts = dict(day_df(spark, output, DAY_1).groupBy("label").count().collect())
    assert day_1_counts[1] == MINORITY_ROWS
    assert within_binomial_bound(day_1_counts[0], ROWS - MINORITY_ROWS, 1 / FACTOR)
    assert rerun.bias_check.verdict == "PASS"
    assert sum(c.rows_after for c in rerun.classes) == days[DAY_1]

    partitions = spark.sql(f"DESCRIBE DETAIL delta.`{output}`").first()
    assert partitions is not None and partitions["partitionColumns"] == ["ds"]
    for day, report in ((DAY_1, rerun), (DAY_2, second)):
        on_disk = output / "_rebalance_report" / f"ds={day}" / "report.json"
        assert Report.model_validate_json(on_disk.read_text()).run_id == report.run_id


def test_a_retried_day_commits_nothing_twice(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    output = tmp_path / "rebalanced"
    into_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    history_before = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").count()
    written = write_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    assert written.skipped_as_repeat
    assert spark.sql(f"DESCRIBE HISTORY delta.`{output}`").count() == history_before


def test_a_cleared_day_whose_source_got_late_rows_is_redone_in_its_partition(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A scheduler's clear reruns a finished day with its run id: with the source unchanged
    nothing is committed; after late rows the day is redone from the newest version, in a
    commit whose lineage names the one it redoes, and the other day stays as it was."""
    source = write_delta(labelled_df(spark, ROWS, MINORITY_ROWS), tmp_path / "events")
    output = tmp_path / "rebalanced"
    into_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    into_day(spark, source, output, DAY_2, **{"output.run_id": "day-2"})
    day_2_before = day_df(spark, output, DAY_2)
    unchanged = write_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    assert unchanged.skipped_as_repeat and unchanged.report is None

    late_df = labelled_df(spark, 5_000, 500).withColumn("id", F.col("id") + ROWS)
    late_df.write.format("delta").mode("append").save(source)
    redone = write_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    assert not redone.skipped_as_repeat and redone.report is not None
    assert redone.report.source.delta_version == 1 and redone.report.source.rows == ROWS + 5_000
    day_1_counts = dict(day_df(spark, output, DAY_1).groupBy("label").count().collect())
    assert day_1_counts[1] == MINORITY_ROWS + 500  # the late minority rows are in
    assert within_binomial_bound(day_1_counts[0], ROWS - MINORITY_ROWS + 4_500, 1 / FACTOR)
    assert day_df(spark, output, DAY_2).exceptAll(day_2_before).count() == 0
    assert day_2_before.exceptAll(day_df(spark, output, DAY_2)).count() == 0
    history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
    first, redo = (
        json.loads(commit["userMetadata"])
        for commit in sorted(history, key=lambda commit: commit["version"])
        if commit["operation"] == "WRITE"
        and json.loads(commit["userMetadata"] or "{}").get("run_id") == "day-1"
    )
    assert (first["source_version"], first["redoes"]) == (0, None)
    first_version = min(
        commit["version"]
        for commit in history
        if commit["operation"] == "WRITE" and '"day-1"' in (commit["userMetadata"] or "")
    )
    assert (redo["source_version"], redo["redoes"]) == (1, first_version)
    on_disk = output / "_rebalance_report" / f"ds={DAY_1}" / "report.json"
    assert Report.model_validate_json(on_disk.read_text()).source.delta_version == 1
    again = write_day(spark, source, output, DAY_1, **{"output.run_id": "day-1"})
    assert again.skipped_as_repeat  # the redo is now the run's commit: nothing to do


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"output.into_partition": {"region": "x"}}, "already columns of the rows"),
        (
            {"output.into_partition": {"ds": DAY_1}, "output.cluster_by": ["region"]},
            "writes a partitioned table, not a clustered one",
        ),
    ],
)
def test_a_partition_that_cannot_be_written_is_refused_before_any_write(
    spark: SparkSession, source: str, tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run_rebalance(spark, source, tmp_path / "out", **{"target.factor": FACTOR, **settings})
    assert not (tmp_path / "out").exists()


def test_the_partition_condition_quotes_names_and_values() -> None:
    partition = OutputPartition.parse({"ds": "2026-11-23", "odd`name": "it's"})
    assert partition.predicate == "`ds` = '2026-11-23' AND `odd``name` = 'it\\'s'"
    assert partition.folder == "ds=2026-11-23/odd%60name=it%27s"
    with pytest.raises(ConfigError, match="COLUMN=VALUE"):
        OutputPartition.parse({"ds": ""})


def test_the_command_line_refuses_a_partition_without_a_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--input", "/in", "--output", "/out", "--into-partition", "ds"])
    assert exited.value.code == 2
    assert "write it as COLUMN=VALUE (got 'ds')" in capsys.readouterr().err
