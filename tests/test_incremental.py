"""--incremental: after rows are appended to the source, keep every earlier choice, decide
only the new rows, and land on the same rows a full rerun would choose."""

from __future__ import annotations

from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, run_rebalance
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from rebalance_lib.api import Written
from rebalance_lib.core.errors import ConfigError, InputError, NothingToDo

ROWS, MINORITY_ROWS, FACTOR = 60_000, 600, 5


def run(spark: SparkSession, source: str, output: Path, **overrides: object) -> Written:
    hashed = {"target.factor": FACTOR, "sample.method": "hash", "sample.key": ["id"]}
    return run_rebalance(spark, source, output, **{**hashed, **overrides})


def ids(spark: SparkSession, path: Path) -> set[int]:
    return {row[0] for row in spark.read.format("delta").load(str(path)).select("id").collect()}


def make_source(spark: SparkSession, path: Path, change_feed: bool) -> str:
    writer = labelled_df(spark, ROWS, MINORITY_ROWS).write.format("delta")
    if change_feed:
        writer = writer.option("delta.enableChangeDataFeed", "true")
    writer.save(str(path))
    return str(path)


def append_rows(spark: SparkSession, source: str) -> None:
    later_df = labelled_df(spark, ROWS, MINORITY_ROWS).withColumn("id", F.col("id") + ROWS)
    later_df.write.format("delta").mode("append").save(source)


@pytest.mark.parametrize("change_feed", [False, True], ids=["appended-files", "change-feed"])
def test_an_increment_keeps_earlier_choices_and_matches_a_full_rerun(
    spark: SparkSession, tmp_path: Path, change_feed: bool
) -> None:
    source = make_source(spark, tmp_path / "in", change_feed)
    output = tmp_path / "out"
    run(spark, source, output)
    first_ids = ids(spark, output)
    append_rows(spark, source)
    result = run(spark, source, output, **{"output.incremental": True})
    assert result.report is not None
    assert result.report.source.rows == ROWS  # only the appended rows were decided
    assert result.report.source.appended_after_version == 0
    assert result.report.output.mode == "append"
    incremental_ids = ids(spark, output)
    assert first_ids <= incremental_ids
    run(spark, source, tmp_path / "full")
    assert incremental_ids == ids(spark, tmp_path / "full")
    weights = (
        spark.read.format("delta").load(str(output)).groupBy("label").agg(F.collect_set("weight"))
    )
    assert dict(weights.collect()) == {0: [float(FACTOR)], 1: [1.0]}


def test_an_increment_with_nothing_new_writes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    source = make_source(spark, tmp_path / "in", change_feed=False)
    output = tmp_path / "out"
    run(spark, source, output)
    commits = DeltaTable.forPath(spark, str(output)).history().count()  # data + properties
    with pytest.raises(NothingToDo, match="already rebalanced"):
        run(spark, source, output, **{"output.incremental": True})
    assert DeltaTable.forPath(spark, str(output)).history().count() == commits


def test_an_increment_refuses_a_source_whose_rows_changed(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = make_source(spark, tmp_path / "in", change_feed=False)
    output = tmp_path / "out"
    run(spark, source, output)
    versions_before = DeltaTable.forPath(spark, str(output)).history().count()
    DeltaTable.forPath(spark, source).delete("id < 10")
    with pytest.raises(InputError, match="changed or removed rows"):
        run(spark, source, output, **{"output.incremental": True})
    assert DeltaTable.forPath(spark, str(output)).history().count() == versions_before


def test_an_increment_after_a_schema_only_change_says_the_schema_changed(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = make_source(spark, tmp_path / "in", change_feed=False)
    output = tmp_path / "out"
    run(spark, source, output)
    spark.sql(f"ALTER TABLE delta.`{source}` ADD COLUMNS (note STRING)")
    with pytest.raises(InputError, match=r"\(ADD COLUMNS\) changed its schema, not its rows"):
        run(spark, source, output, **{"output.incremental": True})


def test_an_increment_needs_the_hash_sampler(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the hash sampler"):
        run(
            spark,
            str(tmp_path / "in"),
            tmp_path / "out",
            **{"output.incremental": True, "sample.method": "sampleBy"},
        )
