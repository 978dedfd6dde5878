"""Properties of the planner that must hold for any table and any request."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rebalance_lib.core.errors import PlanError
from rebalance_lib.core.plan import plan_rebalance
from rebalance_lib.core.targets import TargetRequest

class_counts = st.dictionaries(
    keys=st.integers(min_value=0, max_value=9),
    values=st.integers(min_value=1, max_value=10**10),
    min_size=2,
    max_size=6,
)
requests = st.one_of(
    st.builds(TargetRequest, factor=st.floats(min_value=1, max_value=10_000)),
    st.builds(TargetRequest, target_ratio=st.floats(min_value=1, max_value=10_000)),
    st.builds(TargetRequest, target_minority_share=st.floats(min_value=0.001, max_value=0.499)),
    st.builds(TargetRequest, min_minority_per_batch=st.integers(min_value=1, max_value=64)),
    st.builds(TargetRequest, max_rows=st.integers(min_value=1, max_value=10**11)),
)
cap_requests = st.one_of(
    st.builds(TargetRequest, target_ratio=st.floats(min_value=1, max_value=10_000)),
    st.builds(TargetRequest, target_minority_share=st.floats(min_value=0.001, max_value=0.499)),
    st.builds(TargetRequest, max_rows=st.integers(min_value=1, max_value=10**11)),
)


def _plan_or_skip(counts: dict[int, int], request: TargetRequest):  # type: ignore[no-untyped-def]
    try:
        return plan_rebalance(counts, request)
    except PlanError:
        assume(False)


@given(class_counts, requests)
def test_weighted_class_totals_equal_the_original_totals_in_expectation(
    counts: dict[int, int], request: TargetRequest
) -> None:
    plan = _plan_or_skip(counts, request)
    for c in plan.classes:
        assert c.expected_rows_after * c.weight_multiplier == pytest.approx(c.rows_before)


@given(class_counts, requests)
def test_fractions_are_in_0_1_and_factors_at_least_1(
    counts: dict[int, int], request: TargetRequest
) -> None:
    plan = _plan_or_skip(counts, request)
    for c in plan.classes:
        assert 0 < c.keep_fraction <= 1
        assert c.factor >= 1
    assert plan.minority.factor == 1


@given(class_counts, requests)
def test_no_class_is_cut_below_the_minority(counts: dict[int, int], request: TargetRequest) -> None:
    plan = _plan_or_skip(counts, request)
    for c in plan.classes:
        if c.is_downsampled:
            assert c.expected_rows_after >= plan.minority.rows_before * (1 - 1e-9)


@given(class_counts, cap_requests)
def test_planning_the_planned_counts_again_asks_for_factor_1(
    counts: dict[int, int], request: TargetRequest
) -> None:
    plan = _plan_or_skip(counts, request)
    planned_counts = {c.label: c.expected_rows_after for c in plan.classes}
    again = plan_rebalance(planned_counts, request)  # type: ignore[arg-type]
    for c in again.classes:
        assert c.factor == pytest.approx(1.0, rel=1e-9)
