"""The planner against the technique's worked examples, and its refusals."""

from __future__ import annotations

import json

import pytest

from rebalance_lib.core.errors import InputError, PlanError
from rebalance_lib.core.plan import (
    Plan,
    check_no_class_vanishes,
    degree_of_imbalance,
    plan_rebalance,
)
from rebalance_lib.core.targets import TargetRequest, water_level

BILLION_TABLE = {0: 1_000_000_000, 1: 10_000_000}


def test_unchanged_billion_table_has_about_1_3_minority_rows_per_batch_of_128() -> None:
    plan = plan_rebalance(BILLION_TABLE, TargetRequest(factor=1))
    assert plan.is_noop
    assert plan.minority_per_batch_before == pytest.approx(128 / 101)
    assert plan.minority_per_batch_after == pytest.approx(128 / 101)


def test_batch_of_1024_holds_about_10_minority_rows() -> None:
    plan = plan_rebalance(BILLION_TABLE, TargetRequest(factor=1), batch_size=1024)
    assert plan.minority_per_batch_before == pytest.approx(10.14, abs=0.01)


def test_factor_20_divides_the_majority_by_20() -> None:
    plan = plan_rebalance(BILLION_TABLE, TargetRequest(factor=20))
    assert plan.expected_rows_after == pytest.approx(60_000_000)
    assert plan.ratio_after == pytest.approx(5.0)
    assert plan.minority_per_batch_after == pytest.approx(21.33, abs=0.01)
    assert plan.for_label(0).weight_multiplier == 20
    assert plan.for_label(1).weight_multiplier == 1
    assert plan.for_label(1).keep_fraction == 1


def test_target_ratio_20_to_1_keeps_about_210_million_rows() -> None:
    plan = plan_rebalance(BILLION_TABLE, TargetRequest(target_ratio=20))
    assert plan.factor == pytest.approx(5.0)
    assert plan.expected_rows_after == pytest.approx(210_000_000)
    assert plan.minority_per_batch_after == pytest.approx(6.095, abs=0.001)


@pytest.mark.parametrize(
    ("request_", "rows_after", "per_batch"),
    [(TargetRequest(factor=20), 60_000, 21.3), (TargetRequest(target_ratio=20), 210_000, 6.1)],
)
def test_both_readings_of_20_to_1_on_a_million_row_table(
    request_: TargetRequest, rows_after: int, per_batch: float
) -> None:
    plan = plan_rebalance({0: 1_000_000, 1: 10_000}, request_)
    assert plan.expected_rows_after == pytest.approx(rows_after)
    assert plan.minority_per_batch_after == pytest.approx(per_batch, abs=0.05)


def test_virus_table_goes_from_extreme_to_moderate() -> None:
    plan = plan_rebalance({"healthy": 199_000, "virus": 1_000}, TargetRequest(factor=10))
    assert plan.minority_label == "virus"
    assert degree_of_imbalance(plan.minority_share_before) == "extreme"
    assert plan.minority_share_before == pytest.approx(0.005)
    assert plan.ratio_after == pytest.approx(19.9)
    assert plan.minority_share_after == pytest.approx(0.048, abs=0.0005)
    assert degree_of_imbalance(plan.minority_share_after) == "moderate"
    assert plan.for_label("healthy").weight_multiplier == 10


@pytest.mark.parametrize(
    ("share", "degree"),
    [
        (0.5, "balanced"),
        (0.40, "balanced"),
        (0.39, "mild"),
        (0.20, "mild"),
        (0.19, "moderate"),
        (0.01, "moderate"),
        (0.0099, "extreme"),
        (0.0001, "extreme"),
    ],
)
def test_degree_boundaries(share: float, degree: str) -> None:
    assert degree_of_imbalance(share) == degree


def test_target_already_met_is_a_noop_with_a_message() -> None:
    plan = plan_rebalance({0: 1_000, 1: 100}, TargetRequest(target_ratio=20))
    assert plan.is_noop
    assert all(c.factor == 1 for c in plan.classes)
    assert any("nothing is downsampled" in line for line in plan.advice)


def test_mild_table_is_advised_to_train_a_baseline_first() -> None:
    plan = plan_rebalance({0: 700, 1: 300}, TargetRequest(factor=2))
    assert any("baseline" in line for line in plan.advice)


def test_advice_names_the_batch_size_that_needs_no_downsampling() -> None:
    plan = plan_rebalance(BILLION_TABLE, TargetRequest(factor=20))
    assert any("at least 505" in line for line in plan.advice)


def test_factor_never_cuts_the_majority_below_the_minority() -> None:
    plan = plan_rebalance({0: 1_000, 1: 100}, TargetRequest(factor=50))
    assert plan.for_label(0).factor == pytest.approx(10)
    assert any("not 50" in line for line in plan.advice)


def test_named_minority_is_matched_by_its_text() -> None:
    plan = plan_rebalance({0: 1_000, 1: 100, 2: 50}, TargetRequest(factor=2), minority="1")
    assert plan.minority_label == 1
    assert plan.for_label(2).factor == 1  # smaller than the protected class: untouched
    assert plan.for_label(0).factor == 2


def test_expected_output_size_scales_with_rows() -> None:
    plan = plan_rebalance({0: 9_000, 1: 1_000}, TargetRequest(factor=9), input_size_bytes=10_000)
    assert plan.expected_size_bytes == 2_000


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"factor": 0.5}, r"factor must be at least 1 .*\[factor\]"),
        ({"target_ratio": 0.5}, "target ratio is majority:minority"),
        ({"target_minority_share": 0.5}, "target_ratio=1"),
        ({"target_minority_share": 0.0}, "between 0 and 0.5"),
        ({"min_minority_per_batch": 0}, "at least 1"),
        ({"max_rows": 0}, "at least 1"),
        ({"factor": float("nan")}, "finite"),
        ({}, "state exactly one target"),
        ({"factor": 2, "target_ratio": 3}, "got factor, target_ratio"),
    ],
)
def test_impossible_requests_are_refused_with_the_fix(kwargs: dict, fix: str) -> None:
    with pytest.raises(PlanError, match=fix):
        TargetRequest(**kwargs)


def test_more_minority_per_batch_than_the_batch_is_refused() -> None:
    with pytest.raises(PlanError, match="exceed the batch size 128"):
        plan_rebalance({0: 1_000, 1: 10}, TargetRequest(min_minority_per_batch=200))


def test_unknown_minority_value_is_refused_listing_the_values() -> None:
    with pytest.raises(InputError, match=r"present: 0, 1"):
        plan_rebalance({0: 1_000, 1: 10}, TargetRequest(factor=2), minority="7")


@pytest.mark.parametrize(("counts", "message"), [({}, "no rows"), ({0: 10}, "single class")])
def test_empty_or_single_class_tables_are_refused(counts: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        plan_rebalance(counts, TargetRequest(factor=2))


def test_water_level() -> None:
    assert water_level([10, 100, 1000], 210) == 100
    assert water_level([10, 100, 1000], 10_000) == float("inf")


def test_a_class_that_could_come_out_empty_is_refused() -> None:
    plan = plan_rebalance({0: 1_000_000, 1: 3}, TargetRequest(target_ratio=1))
    assert plan.for_label(0).expected_rows_after == pytest.approx(3)
    with pytest.raises(PlanError, match=r"could come out empty \(chance about 5\.0%\)"):
        check_no_class_vanishes(plan)
    check_no_class_vanishes(plan_rebalance({0: 1_000_000, 1: 15}, TargetRequest(target_ratio=1)))


@pytest.mark.parametrize(
    ("class_counts", "request_"),
    [
        ({0.0: 990_000, 1.0: 10_000}, TargetRequest(factor=20.0)),
        ({"a": 5_000, "b": 3_000, "c": 100}, TargetRequest(target_ratio=4)),
        ({False: 50_000, True: 700}, TargetRequest(max_rows=10_000)),
    ],
)
def test_a_plan_survives_json_through_its_state(
    class_counts: dict[float | str | bool, int], request_: TargetRequest
) -> None:
    plan = plan_rebalance(class_counts, request_, batch_size=512, input_size_bytes=12_345)
    restored = Plan.from_state(json.loads(json.dumps(plan.to_state())))
    assert restored == plan
    assert [type(c.label) for c in restored.classes] == [type(c.label) for c in plan.classes]
