"""Strata beyond the label, the training split only, and whole groups kept together."""

from __future__ import annotations

from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import run_rebalance, within_binomial_bound, write_delta
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.api import Written
from rebalance_lib.core.errors import PlanError
from rebalance_lib.core.strata import plan_strata
from rebalance_lib.core.targets import TargetRequest

# (country, label) -> rows. Positives are 1% in US and 10% in NZ; FJ has none. A global 5:1
# target cuts negatives to 17,500 per class-wide level and leaves NZ at 8.75:1; within
# strata every country with positives ends at 5:1.
GROUP_ROWS = {
    ("US", 0): 150_000,
    ("US", 1): 1_500,
    ("NZ", 0): 20_000,
    ("NZ", 1): 2_000,
    ("FJ", 0): 3_000,
}
SPLITS = ("train", "train", "train", "valid", "test")  # by id % 5


def grouped_df(spark: SparkSession) -> DataFrame:
    parts = [
        spark.range(rows).withColumn("country", F.lit(country)).withColumn("label", F.lit(label))
        for (country, label), rows in GROUP_ROWS.items()
    ]
    df = parts[0]
    for part in parts[1:]:
        df = df.unionByName(part)
    splits = F.array(*[F.lit(name) for name in SPLITS])
    return (
        df.withColumn("id", F.monotonically_increasing_id())
        .withColumn("split", splits[(F.col("id") % len(SPLITS)).cast("int")])
        .withColumn("user_id", F.col("id") % 7_919)
        .repartition(4)
    )


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(grouped_df(spark), tmp_path_factory.mktemp("strata") / "in")


def run(spark: SparkSession, source: str, output: Path, **overrides: object) -> Written:
    return run_rebalance(spark, source, output, **overrides)


def test_the_target_applies_within_each_stratum() -> None:
    plan = plan_strata(GROUP_ROWS, ("country",), TargetRequest(target_ratio=5), 128)
    assert plan.keep_fractions == {("US", 0): 7_500 / 150_000, ("NZ", 0): 10_000 / 20_000}
    assert set(plan.kept_whole) == {("FJ",)}  # no positives: nothing to balance against


def test_max_rows_cannot_be_split_across_strata() -> None:
    with pytest.raises(PlanError, match="maximum row count caps the whole table"):
        plan_strata(GROUP_ROWS, ("country",), TargetRequest(max_rows=1000), 128)


def test_strata_run_keeps_each_stratum_within_bounds_with_exact_weights(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    result = run(
        spark,
        source,
        tmp_path / "out",
        **{"sample.strata": ["label", "country"], "target.target_ratio": 5},
    )
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    counts = {
        (r["country"], r["label"]): r["count"]
        for r in output_df.groupBy("country", "label").count().collect()
    }
    fractions = {("US", 0): 0.05, ("NZ", 0): 0.5}
    for group, rows in GROUP_ROWS.items():
        fraction = fractions.get(group, 1.0)
        if fraction == 1.0:
            assert counts[group] == rows
        else:
            assert within_binomial_bound(counts[group], rows, fraction), (group, counts[group])
    weights = {
        (r["country"], r["label"]): sorted(r["weights"])
        for r in output_df.groupBy("country", "label")
        .agg(F.collect_set("weight").alias("weights"))
        .collect()
    }
    assert weights == {
        ("US", 0): [20.0],
        ("US", 1): [1.0],
        ("NZ", 0): [2.0],
        ("NZ", 1): [1.0],
        ("FJ", 0): [1.0],
    }
    report = result.report
    assert report is not None and report.strata is not None
    assert report.strata.columns == ["country"]
    assert (report.strata.strata_planned, report.strata.strata_kept_whole) == (2, 1)
    shown = {(row.stratum["country"], row.label): row.rows_after for row in report.strata.top}
    assert shown == counts
    assert report.bias_check.verdict == "PASS"
    assert {c.label: c.rows_after for c in report.classes} == {
        0: counts[("US", 0)] + counts[("NZ", 0)] + counts[("FJ", 0)],
        1: counts[("US", 1)] + counts[("NZ", 1)],
    }


def test_only_the_training_split_is_rebalanced(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    result = run(spark, source, tmp_path / "out", **{"split.column": "split", "target.factor": 10})
    source_df = spark.read.format("delta").load(source)
    output_df = spark.read.format("delta").load(str(tmp_path / "out"))
    held_out = output_df.filter("split != 'train'")
    assert held_out.filter("weight != 1.0").count() == 0
    assert held_out.drop("weight").exceptAll(source_df.filter("split != 'train'")).count() == 0
    assert held_out.count() == source_df.filter("split != 'train'").count()
    train_before = source_df.filter("split = 'train' AND label = 0").count()
    train_after = output_df.filter("split = 'train' AND label = 0")
    assert within_binomial_bound(train_after.count(), train_before, 0.1)
    assert {r[0] for r in train_after.select("weight").distinct().collect()} == {10.0}
    report = result.report
    assert report is not None and report.splits is not None
    by_split = {row.value: row for row in report.splits.splits}
    assert set(by_split) == {"train", "valid", "test"}
    assert [name for name, row in by_split.items() if row.rebalanced] == ["train"]
    assert by_split["valid"].rows_after == by_split["valid"].rows_before
    assert report.classes[0].rows_before == train_before  # the plan saw training rows only


def test_a_missing_train_value_is_refused(spark: SparkSession, source: str, tmp_path: Path) -> None:
    from rebalance_lib.core.errors import InputError

    with pytest.raises(InputError, match="train_value"):
        run(
            spark,
            source,
            tmp_path / "out",
            **{"split.column": "split", "split.train_value": "fit", "target.factor": 10},
        )
    assert not (tmp_path / "out").exists()


def test_a_group_key_keeps_or_drops_all_rows_of_an_entity_together(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    run(
        spark,
        source,
        tmp_path / "out",
        **{"target.factor": 4, "sample.method": "hash", "sample.key": ["user_id"]},
    )
    source_df = spark.read.format("delta").load(source).filter("label = 0")
    kept_ids = (
        spark.read.format("delta").load(str(tmp_path / "out")).filter("label = 0").select("id")
    )
    per_user = (
        source_df.join(kept_ids.withColumn("kept", F.lit(1)), "id", "left")
        .groupBy("user_id")
        .agg(F.count("*").alias("rows"), F.count("kept").alias("kept"))
    )
    split_users = per_user.filter("kept > 0 AND kept < rows").count()
    assert split_users == 0
    kept_users = per_user.filter("kept = rows").count()
    assert within_binomial_bound(kept_users, per_user.count(), 0.25)
