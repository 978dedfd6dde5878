"""A target per class: rows (``class_targets``) or a factor (``class_factors``) for each named
class, the others kept whole; planned purely, then run on real Spark + Delta and held against
imbalanced-learn's ``RandomUnderSampler`` with the same dict."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyspark.sql.functions as F
import pytest
import yaml
from conftest import run_rebalance, within_binomial_bound, write_delta
from imblearn.under_sampling import RandomUnderSampler
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib import rebalance
from rebalance_lib.cli import build_parser, config_from_args
from rebalance_lib.core.arguments import OPTION_TYPES, check_types
from rebalance_lib.core.errors import ConfigError, InputError, PlanError
from rebalance_lib.core.options import RunOptions, check_one_pass, target_request
from rebalance_lib.core.plan import Plan, exact_rows, plan_rebalance
from rebalance_lib.core.strata import plan_strata
from rebalance_lib.core.targets import TargetRequest
from rebalance_lib.ml import RebalancedEstimator

COUNTS = {0: 60_000, 1: 1_500, 2: 9_000}
TARGETS = {0: 12_000, 2: 3_000}


def plan_of(**request: Any) -> Plan:
    return plan_rebalance(COUNTS, TargetRequest(**request))


# --- the plan --------------------------------------------------------------------------------


def test_class_targets_divide_each_named_class_to_its_rows_and_keep_the_others_whole() -> None:
    plan = plan_of(class_targets=TARGETS)
    assert {c.label: c.factor for c in plan.classes} == {0: 5.0, 1: 1.0, 2: 3.0}
    assert {c.label: exact_rows(c.rows_before, c.factor) for c in plan.classes} == {
        0: 12_000,
        1: 1_500,
        2: 3_000,
    }
    assert (
        plan.request.describe() == "class targets 0=12,000, 2=3,000 rows (other classes kept whole)"
    )


def test_a_target_at_a_classs_own_rows_keeps_it_and_odd_counts_still_cut_exactly() -> None:
    counts = {0: 999_983, 1: 7, 2: 65_537}
    plan = plan_rebalance(counts, TargetRequest(class_targets={0: 333_331, 2: 65_537}))
    kept = {c.label: exact_rows(c.rows_before, c.factor) for c in plan.classes}
    assert kept == {0: 333_331, 1: 7, 2: 65_537}
    assert not plan.for_label(2).is_downsampled


def test_class_factors_divide_the_named_classes_even_below_the_minority() -> None:
    plan = plan_of(class_factors={0: 100, "2": 2.5})
    assert {c.label: c.factor for c in plan.classes} == {0: 100.0, 1: 1.0, 2: 2.5}
    # 600 expected rows of class 0 is below the minority's 1,500: the request says so.
    assert plan.for_label(0).expected_rows_after < plan.minority.rows_before
    assert any("as the per-class request asks" in line for line in plan.advice)


def test_labels_are_matched_by_their_text_as_the_command_line_gives_them() -> None:
    plan = plan_rebalance({0.0: 900, 1.0: 100}, TargetRequest(class_targets={"0": 300}))
    assert plan.for_label(0.0).factor == 3.0
    plan = plan_rebalance({"neg": 900, "pos": 100}, TargetRequest(class_factors={"NEG": 3}))
    assert plan.for_label("neg").factor == 3.0


@pytest.mark.parametrize(
    ("request_args", "error", "message"),
    [
        ({"class_targets": {7: 5}}, InputError, "class targets: class 7 is not a label value"),
        ({"class_targets": {0: 60_001}}, PlanError, "above its 60,000 rows"),
        ({"class_factors": {0: 0.5}}, PlanError, "must be at least 1 (got 0.5)"),
        ({"class_targets": {0: 0}}, PlanError, "whole number of at least 1 (got 0)"),
        ({"class_targets": {0: 2.5}}, PlanError, "whole number of at least 1 (got 2.5)"),
        ({"class_targets": {}}, PlanError, "name at least one class"),
        ({"class_targets": {0: 5, "0": 6}}, PlanError, "name class 0 twice"),
        ({"class_targets": {0: 5}, "factor": 3}, PlanError, "state exactly one target"),
        ({"class_factors": {0: float("nan")}}, PlanError, "must be a finite number"),
    ],
)
def test_a_bad_per_class_request_is_refused_in_one_line(
    request_args: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as refused:
        plan_of(**request_args)
    assert "\n" not in str(refused.value)


def test_a_plan_with_class_targets_saves_and_loads_with_its_labels_types() -> None:
    plan = plan_rebalance({1.0: 500, 0.0: 40}, TargetRequest(class_targets={1.0: 250}))
    state = json.loads(json.dumps(plan.to_state()))
    assert Plan.from_state(state) == plan
    assert state["request"]["class_targets"] == [[1.0, 250]]
    assert type(Plan.from_state(state).request.class_targets[0][0]) is float


def test_class_factors_apply_in_every_stratum_that_holds_the_class() -> None:
    counts = {("US", 0): 9_000, ("US", 1): 90, ("US", 2): 500, ("NZ", 0): 900, ("NZ", 1): 9}
    plan = plan_strata(counts, ("country",), TargetRequest(class_factors={2: 5, 0: 10}), 128)
    assert plan.keep_fractions == {("US", 0): 0.1, ("US", 2): 0.2, ("NZ", 0): 0.1}


def test_class_targets_with_strata_are_refused_but_a_split_counts_its_training_rows() -> None:
    counts = {("US", 0): 9_000, ("US", 1): 90, ("NZ", 0): 900, ("NZ", 1): 9}
    with pytest.raises(PlanError, match="cannot be split across strata: state class factors"):
        plan_strata(counts, ("country",), TargetRequest(class_targets={0: 500}), 128)
    split_plan = plan_strata(
        {(0,): 9_000, (1,): 90}, (), TargetRequest(class_targets={0: 500}), 128
    )
    assert split_plan.keep_fractions == {(0,): 500 / 9_000}


def test_one_pass_and_a_sweep_refuse_a_per_class_request() -> None:
    options = RunOptions(request=TargetRequest(class_factors={0: 10}), minority=1)
    with pytest.raises(ConfigError, match="class factors are planned from the class counts"):
        check_one_pass(options, (0, 1))
    with pytest.raises(ConfigError, match="leave out class_targets"):
        target_request({"class_targets": {0: 5}}, [5, 10])


def test_the_command_line_yaml_and_the_api_take_the_same_request(tmp_path: Path) -> None:
    args = build_parser().parse_args(["plan", "--input", "x", "--class-targets", "0=12000,2=3000"])
    from_flags = config_from_args(args).rebalance_options()["class_targets"]
    conf = tmp_path / "targets.yaml"
    conf.write_text(yaml.safe_dump({"target": {"class_targets": TARGETS}}))
    from_yaml = config_from_args(build_parser().parse_args(["plan", "--config", str(conf)]))
    assert from_flags == from_yaml.rebalance_options()["class_targets"] == TARGETS
    check_types({"class_targets": TARGETS, "class_factors": {"a": 2.5}}, OPTION_TYPES)
    with pytest.raises(ConfigError, match="class_targets must be a dict of label value to rows"):
        check_types({"class_targets": [12_000]}, OPTION_TYPES)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["plan", "--input", "x", "--class-factors", "0:20"])


# --- on Spark ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_classes(spark: SparkSession) -> DataFrame:
    """``id``, ``label`` (0, 1 and 2 interleaved: about 85%, 2% and 13% of 70,500 rows)."""
    label = F.when(F.col("id") % 47 == 0, 1).when(F.col("id") % 47 <= 6, 2).otherwise(0)
    return spark.range(0, 70_500, 1, 4).withColumn("label", label).withColumn("x", F.col("id") % 13)


def spark_counts(df: DataFrame) -> dict[Any, int]:
    return {row["label"]: row["count"] for row in df.groupBy("label").count().collect()}


def test_exact_class_targets_keep_what_random_under_sampler_keeps(three_classes: DataFrame) -> None:
    before = spark_counts(three_classes)
    targets = {0: 12_000, 2: 2_000}
    out = rebalance(three_classes, class_targets=targets, exact=True, seed=3)
    after = spark_counts(out.df)

    labels = np.array([label for label, rows in sorted(before.items()) for _ in range(rows)])
    sampler = RandomUnderSampler(sampling_strategy=targets, random_state=0)
    _, resampled = sampler.fit_resample(np.arange(len(labels)).reshape(-1, 1), labels)
    assert after == dict(Counter(resampled.tolist()))
    # Kept rows of a named class weigh its rows / target, so each class's weight is intact.
    weights = {
        row["label"]: (row["weight"], row["total"])
        for row in out.df.groupBy("label", "weight").agg(F.sum("weight").alias("total")).collect()
    }
    assert weights[1] == (1.0, before[1])
    for label, target in targets.items():
        assert weights[label][0] == before[label] / target
        assert weights[label][1] == pytest.approx(before[label], rel=1e-12)


def test_class_factors_without_exact_keep_a_binomial_share_weighted_by_the_factor(
    three_classes: DataFrame,
) -> None:
    before = spark_counts(three_classes)
    out = rebalance(three_classes, class_factors={0: 10, 2: 4}, seed=9)
    after = spark_counts(out.df)
    assert within_binomial_bound(after[0], before[0], 1 / 10)
    assert within_binomial_bound(after[2], before[2], 1 / 4)
    assert after[1] == before[1]
    weights = {
        row["label"]: row["weight"] for row in out.df.select("label", "weight").distinct().collect()
    }
    assert weights == {0: 10.0, 1: 1.0, 2: 4.0}


def test_a_run_with_class_targets_writes_delta_and_reports_them(
    spark: SparkSession, three_classes: DataFrame, tmp_path: Path
) -> None:
    named = three_classes.withColumn(
        "label", F.element_at(F.array(*map(F.lit, ["neg", "pos", "other"])), F.col("label") + 1)
    )
    source = write_delta(named, tmp_path / "source")
    written = run_rebalance(
        spark,
        source,
        tmp_path / "out",
        **{"target.class_targets": {"neg": 6_000}, "sample.exact": True},
    )
    table = spark.read.format("delta").load(str(tmp_path / "out"))
    before = spark_counts(named)
    assert spark_counts(table) == {"neg": 6_000, "pos": before["pos"], "other": before["other"]}
    report = written.report
    assert report.request.form == "class_targets"
    assert report.request.said == "class targets neg=6,000 rows (other classes kept whole)"
    by_label = {c.label: c for c in report.classes}
    assert by_label["neg"].rows_after == 6_000 and by_label["other"].factor == 1.0
    assert report.bias_check.verdict == "PASS"


def test_the_estimator_fits_with_class_targets_and_saves_them_with_their_types(
    three_classes: DataFrame, tmp_path: Path
) -> None:
    binary = three_classes.withColumn("label", (F.col("label") == 1).cast("double")).withColumn(
        "features", array_to_vector(F.array(F.col("x").cast("double")))
    )
    before = spark_counts(binary)
    estimator = RebalancedEstimator(
        estimator=LogisticRegression(maxIter=5), classTargets={0.0: 7_000}, exact=True, seed=2
    )
    model = estimator.fit(binary)
    assert model.plan.for_label(0.0).factor == before[0.0] / 7_000
    estimator.save(str(tmp_path / "estimator"))
    loaded = RebalancedEstimator.load(str(tmp_path / "estimator"))
    saved = loaded.getOrDefault(loaded.classTargets)
    assert saved == [[0.0, 7_000]] and type(saved[0][0]) is float
    assert loaded.fit(binary).plan == model.plan
