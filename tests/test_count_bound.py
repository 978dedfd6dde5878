"""The count check holds for the whole run: its arithmetic, and its false failures simulated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rebalance_lib.core import bounds
from rebalance_lib.core.bounds import (
    binomial_range,
    group_level,
    normal_range,
    normal_sigmas,
)
from rebalance_lib.core.checks import ClassOutcome, counts_within_bound, with_kept_key_sizes

# The relaxed run level the simulations are held to: high enough to be seen in a few thousand
# simulated runs, where the product's own (one in two million) would need billions.
SIMULATED_LEVEL = 1e-2
# Groups of a simulated run, as (rows, factor): a tiny group, where the normal curve is thin,
# and two of moderate size.
GROUP_KINDS = ((40, 2.0), (1_000, 10.0), (1_000, 4.0))
SIGMAS = 5.0  # the simulations' own tolerance: a correct check fails them once in two million


def exact_tails(rows: int, keep_fraction: float, lowest: float, highest: float) -> float:
    """P(X < lowest) + P(X > highest) for X ~ Binomial(rows, keep_fraction), term by term."""
    return sum(
        math.comb(rows, k) * keep_fraction**k * (1 - keep_fraction) ** (rows - k)
        for k in range(rows + 1)
        if k < lowest or k > highest
    )


@pytest.mark.parametrize(
    ("rows", "keep_fraction", "level"),
    [(100, 0.1, 1e-3), (1_000, 0.05, 1e-6), (50, 0.5, 1e-2), (10, 0.1, 1e-2), (600, 0.9, 1e-9)],
)
def test_a_binomial_range_leaves_at_most_half_the_level_in_each_tail_and_is_the_narrowest(
    rows: int, keep_fraction: float, level: float
) -> None:
    lowest, highest = binomial_range(rows, keep_fraction, level)
    assert exact_tails(rows, keep_fraction, lowest, rows) <= level / 2
    assert exact_tails(rows, keep_fraction, 0, highest) <= level / 2
    # One count narrower on either side and that tail holds more than half the level.
    assert lowest == 0 or exact_tails(rows, keep_fraction, lowest + 1, rows) > level / 2
    assert highest == rows or exact_tails(rows, keep_fraction, 0, highest - 1) > level / 2


def test_a_group_kept_whole_must_keep_every_row() -> None:
    assert binomial_range(1_234, 1.0, 1e-6) == (1_234, 1_234)
    assert binomial_range(0, 0.5, 1e-6) == (0, 0)


@pytest.mark.parametrize("rows", [400_000, 10**9])
def test_a_large_group_s_skewed_normal_range_is_within_a_count_of_the_exact_one(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_fraction = 150**2 / rows / 0.99 if rows > 10**6 else 0.1  # a deviation above 100
    approximate = binomial_range(rows, keep_fraction, 1e-9)
    monkeypatch.setattr(bounds, "EXACT_MAX_SD", math.inf)
    exact = binomial_range(rows, keep_fraction, 1e-9)
    assert approximate == pytest.approx(exact, abs=1.0)


def test_the_level_is_shared_out_so_that_any_of_the_groups_fails_with_it() -> None:
    for groups in (1, 10, 10_000, 10**6):
        each = group_level(1e-6, groups)
        assert -math.expm1(groups * math.log1p(-each)) == pytest.approx(1e-6, rel=1e-9)
    # Two-sided normal quantiles from the tables: 1e-6 and, over 100,000 groups, 1e-11.
    assert normal_sigmas(group_level(1e-6, 1)) == pytest.approx(4.8916, abs=1e-4)
    assert normal_sigmas(group_level(1e-6, 10**5)) == pytest.approx(6.8065, abs=1e-4)


def test_a_count_of_given_variance_gets_the_normal_range() -> None:
    lowest, highest = normal_range(1_000.0, 400.0, 0.05)
    assert (lowest, highest) == pytest.approx((1_000 - 1.96 * 20, 1_000 + 1.96 * 20), abs=0.01)
    outcome = ClassOutcome(10_000, 1e4, 1e4, 10.0, 1_000, 1e4, rows_variance=400.0)
    assert outcome.kept_range(0.05) == (lowest, highest)


def run_failure_rate(kinds: list[tuple[int, float, int]], level: float) -> float:
    """The exact chance that a correct run of these (rows, factor, groups) fails the check."""
    each = group_level(level, sum(groups for _, _, groups in kinds))
    passes = 1.0
    for rows, factor, groups in kinds:
        lowest, highest = binomial_range(rows, 1 / factor, each)
        passes *= (1 - exact_tails(rows, 1 / factor, lowest, highest)) ** groups
    return 1 - passes


def assert_simulated_rate_matches(failures: int, runs: int, rate: float) -> None:
    """The observed failures are the exact rate's, within its binomial deviation."""
    assert rate <= SIMULATED_LEVEL
    assert rate >= SIMULATED_LEVEL / 2  # not needlessly loose: the exact tails are used
    assert abs(failures - runs * rate) <= SIGMAS * math.sqrt(runs * rate * (1 - rate))


def test_ten_groups_simulated_fail_as_often_as_the_level_says() -> None:
    rng = np.random.default_rng(29)
    kinds = [(rows, factor, 4 if rows == 40 else 3) for rows, factor in GROUP_KINDS]
    runs = 5_000
    failures = 0
    for _ in range(runs):
        outcomes = {
            (rows, factor, index): ClassOutcome(
                rows, rows, rows, factor, int(rng.binomial(rows, 1 / factor)), 0.0
            )
            for rows, factor, groups in kinds
            for index in range(groups)
        }
        failures += not counts_within_bound(outcomes, SIMULATED_LEVEL)
    assert_simulated_rate_matches(failures, runs, run_failure_rate(kinds, SIMULATED_LEVEL))


def test_ten_thousand_groups_simulated_fail_as_often_as_the_level_says() -> None:
    rng = np.random.default_rng(29)
    kinds = [(rows, factor, 3_334 if rows == 40 else 3_333) for rows, factor in GROUP_KINDS]
    each = group_level(SIMULATED_LEVEL, 10_000)
    runs = 2_000
    failed = np.zeros(runs, dtype=bool)
    for rows, factor, groups in kinds:
        # The check's own range for this kind of group, applied to every simulated group.
        lowest, highest = ClassOutcome(rows, rows, rows, factor, 0, 0.0).kept_range(each)
        kept = rng.binomial(rows, 1 / factor, size=(runs, groups))
        failed |= ((kept < lowest) | (kept > highest)).any(axis=1)
    assert_simulated_rate_matches(int(failed.sum()), runs, run_failure_rate(kinds, SIMULATED_LEVEL))


def test_a_real_deviation_still_fails_among_ten_thousand_groups() -> None:
    planned = {index: ClassOutcome(1_000, 1e3, 1e3, 10.0, 100, 1e3) for index in range(10_000)}
    assert counts_within_bound(planned)
    # One group sampled at a factor of 5 instead of 10: twice its rows.
    deviating = {**planned, 0: ClassOutcome(1_000, 1e3, 1e3, 10.0, 200, 2e3)}
    assert not counts_within_bound(deviating)
    # A large class kept at 1/9 instead of 1/10.
    large = {0: ClassOutcome(10**7, 1e7, 1e7, 10.0, 10**7 // 9, 1e7 / 0.9)}
    assert not counts_within_bound(large)


def test_whole_keys_kept_fail_as_often_as_the_level_says_with_their_sizes_variance() -> None:
    """Ten classes of 200 keys of 20 rows each, every key kept or dropped whole."""
    rng = np.random.default_rng(29)
    keys, key_rows, factor, runs = 200, 20, 4.0, 5_000
    failures = row_level_failures = 0
    for run in range(runs):
        kept_keys = rng.binomial(keys, 1 / factor, size=10)
        outcomes = {
            index: ClassOutcome(keys * key_rows, 0.0, 0.0, factor, int(kept) * key_rows, 0.0)
            for index, kept in enumerate(kept_keys)
        }
        if run < 100:  # the rows' binomial bound is far too tight for keys of 20 rows
            row_level_failures += not counts_within_bound(outcomes, SIMULATED_LEVEL)
        by_keys = {
            index: with_kept_key_sizes(outcome, int(kept_keys[index]) * key_rows**2)
            for index, outcome in outcomes.items()
        }
        failures += not counts_within_bound(by_keys, SIMULATED_LEVEL)
    assert row_level_failures > 90
    sd = math.sqrt(runs * SIMULATED_LEVEL * (1 - SIMULATED_LEVEL))
    assert abs(failures - runs * SIMULATED_LEVEL) <= SIGMAS * sd


def test_keys_of_one_row_each_leave_the_count_binomial() -> None:
    outcome = ClassOutcome(1_000, 1e3, 1e3, 10.0, 100, 1e3)
    assert with_kept_key_sizes(outcome, 100) == outcome
