"""Samplers and the weight column on real local Spark."""

from __future__ import annotations

import pyspark.sql.functions as F
import pytest
from chispa import assert_df_equality
from conftest import labelled_df, within_binomial_bound
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from rebalance_lib.core.errors import InputError
from rebalance_lib.transforms.profile import profile_classes
from rebalance_lib.transforms.sample import sample_by_key_hash, sample_by_label, with_weight

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("label", T.StringType(), False),
        T.StructField("w", T.DoubleType(), True),
    ]
)


def test_weight_is_input_weight_times_the_class_multiplier(spark: SparkSession) -> None:
    input_df = spark.createDataFrame([(1, "neg", 2.0), (2, "pos", 3.0), (3, "neg", 0.5)], SCHEMA)
    expected_df = spark.createDataFrame(
        [(1, "neg", 2.0, 40.0), (2, "pos", 3.0, 3.0), (3, "neg", 0.5, 10.0)],
        T.StructType([*SCHEMA.fields, T.StructField("weight", T.DoubleType(), True)]),
    )
    weighted_df = input_df.transform(with_weight, "label", {"neg": 20.0, "pos": 1.0}, "weight", "w")
    assert_df_equality(weighted_df, expected_df, ignore_nullable=True)


def test_default_weight_is_the_multiplier(spark: SparkSession) -> None:
    input_df = spark.createDataFrame([(1, "neg", None), (2, "pos", None)], SCHEMA)
    weighted_df = input_df.transform(with_weight, "label", {"neg": 7.5, "pos": 1.0})
    assert {row["label"]: row["weight"] for row in weighted_df.collect()} == {
        "neg": 7.5,
        "pos": 1.0,
    }


def test_existing_weight_column_is_not_silently_replaced(spark: SparkSession) -> None:
    input_df = spark.createDataFrame([(1, "neg", 1.0)], SCHEMA).withColumnRenamed("w", "weight")
    with pytest.raises(InputError, match="already has a column 'weight'"):
        input_df.transform(with_weight, "label", {"neg": 2.0})


@pytest.mark.parametrize("sampler", ["sampleBy", "hash"])
def test_sampled_counts_are_within_the_binomial_bound_and_minority_is_whole(
    spark: SparkSession, sampler: str
) -> None:
    source_df = labelled_df(spark, rows=200_000, minority_rows=2_000)
    fractions = {0: 0.05, 1: 1.0}
    if sampler == "hash":
        kept_df = sample_by_key_hash(source_df, "label", fractions, seed=3, key_cols=["id"])
    else:
        kept_df = sample_by_label(source_df, "label", fractions, seed=3)
    counts = profile_classes(kept_df, "label").class_counts
    assert counts[1] == 2_000
    assert within_binomial_bound(counts[0], 198_000, 0.05), counts


def test_sample_by_label_keeps_exactly_the_rows_sampleby_keeps(spark: SparkSession) -> None:
    source_df = labelled_df(spark, rows=100_000, minority_rows=1_000)
    fractions = {0: 0.1, 1: 1.0}
    ours_df = sample_by_label(source_df, "label", fractions, seed=42)
    spark_df = source_df.sampleBy("label", fractions, seed=42)
    assert ours_df.count() == spark_df.count()
    assert ours_df.exceptAll(spark_df).count() == 0


def test_same_seed_same_sample_and_other_seed_other_sample(spark: SparkSession) -> None:
    source_df = labelled_df(spark, rows=20_000, minority_rows=200)

    def kept_ids(seed: int) -> set[int]:
        kept_df = sample_by_label(source_df, "label", {0: 0.1, 1: 1.0}, seed=seed)
        return {row["id"] for row in kept_df.select("id").collect()}

    assert kept_ids(11) == kept_ids(11)
    assert kept_ids(11) != kept_ids(12)


def test_hash_sample_does_not_depend_on_partitioning(spark: SparkSession) -> None:
    source_df = labelled_df(spark, rows=50_000, minority_rows=500, partitions=3)
    fractions = {0: 0.1, 1: 1.0}

    def kept_ids(partitions: int) -> list[int]:
        shuffled_df = source_df.repartition(partitions, F.rand(5))
        kept_df = sample_by_key_hash(shuffled_df, "label", fractions, seed=21, key_cols=["id"])
        return sorted(row["id"] for row in kept_df.select("id").collect())

    assert kept_ids(2) == kept_ids(7)


def test_hash_sampler_needs_a_key(spark: SparkSession) -> None:
    source_df = labelled_df(spark, rows=100, minority_rows=10)
    with pytest.raises(InputError, match="user_id are not in the input"):
        sample_by_key_hash(source_df, "label", {0: 0.5}, seed=1, key_cols=["user_id"])
