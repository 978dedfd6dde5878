"""Every way of stating "how much", on two and more classes."""

from __future__ import annotations

import pytest

from rebalance_lib.core.errors import PlanError
from rebalance_lib.core.plan import plan_rebalance
from rebalance_lib.core.targets import TargetRequest

TABLE = {0: 1_000_000, 1: 10_000}


def test_target_minority_share_sets_the_output_share() -> None:
    plan = plan_rebalance(TABLE, TargetRequest(target_minority_share=0.2))
    assert plan.minority_share_after == pytest.approx(0.2)
    assert plan.factor == pytest.approx(25)


def test_min_minority_per_batch_picks_the_smallest_factor_that_reaches_it() -> None:
    plan = plan_rebalance(TABLE, TargetRequest(min_minority_per_batch=16), batch_size=128)
    assert plan.minority_per_batch_after == pytest.approx(16)
    smaller = plan_rebalance(TABLE, TargetRequest(factor=plan.factor * 0.99))
    assert smaller.minority_per_batch_after < 16


def test_min_minority_per_batch_already_met_needs_no_downsampling() -> None:
    plan = plan_rebalance({0: 1_000, 1: 500}, TargetRequest(min_minority_per_batch=10))
    assert plan.is_noop


def test_max_rows_caps_the_output() -> None:
    plan = plan_rebalance(TABLE, TargetRequest(max_rows=110_000))
    assert plan.expected_rows_after == pytest.approx(110_000)
    assert plan.for_label(1).factor == 1


def test_max_rows_below_the_minority_floor_is_refused_with_the_floor() -> None:
    with pytest.raises(PlanError, match="at least 20,000"):
        plan_rebalance(TABLE, TargetRequest(max_rows=15_000))


def test_unreachable_share_on_three_classes_is_refused() -> None:
    with pytest.raises(PlanError, match=r"the most is 33\.33%"):
        plan_rebalance(
            {"a": 100, "b": 1_000, "c": 10_000}, TargetRequest(target_minority_share=0.45)
        )


def test_unreachable_batch_target_names_the_batch_size_needed() -> None:
    with pytest.raises(PlanError, match=r"raise the batch size to at least 20 .*\[batch_size=20\]"):
        plan_rebalance({0: 1_000, 1: 100}, TargetRequest(min_minority_per_batch=10), batch_size=16)


def test_multiclass_ratio_gives_each_large_class_its_own_factor() -> None:
    counts = {"cat": 1_000_000, "dog": 50_000, "eel": 8_000, "fox": 10_000}
    plan = plan_rebalance(counts, TargetRequest(target_ratio=5))
    assert plan.minority_label == "eel"
    assert plan.for_label("cat").factor == pytest.approx(1_000_000 / 40_000)
    assert plan.for_label("dog").factor == pytest.approx(50_000 / 40_000)
    assert plan.for_label("fox").factor == 1  # under the target: kept whole, weight unchanged
    assert plan.for_label("eel").factor == 1


def test_multiclass_factor_is_capped_per_class_at_the_minority_size() -> None:
    plan = plan_rebalance({0: 1_000_000, 1: 100_000, 2: 10_000}, TargetRequest(factor=20))
    assert plan.for_label(0).factor == 20
    assert plan.for_label(1).factor == pytest.approx(10)
    assert plan.for_label(2).factor == 1


def test_multiclass_max_rows_cuts_the_largest_classes_first() -> None:
    plan = plan_rebalance({0: 1_000_000, 1: 100_000, 2: 10_000}, TargetRequest(max_rows=130_000))
    assert plan.for_label(0).expected_rows_after == pytest.approx(60_000)
    assert plan.for_label(1).expected_rows_after == pytest.approx(60_000)
    assert plan.for_label(2).factor == 1


def test_boolean_labels() -> None:
    plan = plan_rebalance({False: 99_000, True: 1_000}, TargetRequest(target_ratio=9))
    assert plan.minority_label is True
    assert plan.for_label(False).factor == pytest.approx(11)
