"""Pure statistics that prove a result: the count check and the prediction-bias check.

Both hold for the whole run: a correct run fails either with probability ``CHECK_LEVEL`` at
most, however many groups it has (``bounds``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rebalance_lib.core.bounds import (
    CHECK_LEVEL,
    binomial_range,
    group_level,
    normal_range,
    normal_sigmas,
)
from rebalance_lib.core.targets import Label

_FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class ClassOutcome:
    """One class before and after: rows and sums of weights."""

    rows_before: int
    weight_before: float
    weight_sq_before: float
    factor: float
    rows_after: int
    weight_after: float
    # Set when the class was sampled with different factors in different strata.
    rows_variance: float | None = None
    weight_variance: float | None = None
    # The keys' mean rows, weighted by their rows, when the sample keeps or drops whole keys:
    # the kept count and the weighted total vary that many times as much as row by row.
    key_rows: float = 1.0

    @property
    def expected_rows_after(self) -> float:
        return self.rows_before / self.factor

    @property
    def rows_after_sd(self) -> float:
        if self.rows_variance is not None:
            return math.sqrt(self.rows_variance)
        keep = 1.0 / self.factor
        return math.sqrt(self.rows_before * keep * (1.0 - keep) * self.key_rows)

    @property
    def weight_after_variance(self) -> float:
        if self.weight_variance is not None:
            return self.weight_variance
        # Each kept row carries w*F with probability 1/F: variance w^2 * (F - 1) per row.
        return self.weight_sq_before * (self.factor - 1.0) * self.key_rows

    def kept_range(self, level: float) -> tuple[float, float]:
        """Where a correct sample's kept count stays but with probability ``level``: the exact
        binomial range of a row-by-row sample, else the normal range of its variance."""
        if self.rows_variance is None and self.key_rows == 1.0:
            return binomial_range(self.rows_before, 1.0 / self.factor, level)
        return normal_range(self.expected_rows_after, self.rows_after_sd**2, level)

    @property
    def deviation_sigmas(self) -> float | None:
        """Signed distance of the kept count from its expectation, in standard deviations."""
        if self.rows_after_sd == 0:
            return None
        return (self.rows_after - self.expected_rows_after) / self.rows_after_sd


def with_kept_key_sizes(outcome: ClassOutcome, kept_square_sum: int) -> ClassOutcome:
    """The outcome of a sample that kept or dropped whole keys, given the sum over the kept
    keys of their rows in this class, squared.

    A key of n rows is kept with probability p = 1/F, so the kept count's variance is
    p (1 - p) times the sum of n squared over all keys: the rows' binomial variance times
    the keys' mean size weighted by their rows (``key_rows``), which the kept keys estimate
    from the output alone (their sum of n squared over their rows), however many of them
    were kept. Keys of one row each leave the count binomial.

    Example:
        >>> outcome = ClassOutcome(1_000, 1e3, 1e3, 10.0, 90, 900.0)
        >>> with_kept_key_sizes(outcome, 900).key_rows  # kept keys of 10 rows each
        10.0
    """
    if kept_square_sum <= outcome.rows_after:
        return outcome
    return replace(outcome, key_rows=kept_square_sum / outcome.rows_after)


def merge_outcomes(parts: Sequence[ClassOutcome]) -> ClassOutcome:
    """One class over independently sampled strata: sums, and the summed variances.

    The factor is the effective one, rows before / expected rows after.
    """
    rows_before = sum(p.rows_before for p in parts)
    expected_after = sum(p.expected_rows_after for p in parts)
    return ClassOutcome(
        rows_before=rows_before,
        weight_before=sum(p.weight_before for p in parts),
        weight_sq_before=sum(p.weight_sq_before for p in parts),
        factor=rows_before / expected_after,
        rows_after=sum(p.rows_after for p in parts),
        weight_after=sum(p.weight_after for p in parts),
        rows_variance=sum(p.rows_after_sd**2 for p in parts),
        weight_variance=sum(p.weight_after_variance for p in parts),
    )


@dataclass(frozen=True)
class BiasCheck:
    """Weighted class shares (and label mean, for numeric labels) before vs after.

    Shares are keyed by the label's text, as the report's JSON holds them.
    """

    share_before: dict[str, float]
    weighted_share_after: dict[str, float]
    share_tolerance: dict[str, float]
    label_mean_before: float | None
    weighted_label_mean_after: float | None
    label_mean_tolerance: float | None
    sigmas: float
    verdict: Literal["PASS", "FAIL"]

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


def counts_within_bound(outcomes: Mapping[Any, ClassOutcome], level: float = CHECK_LEVEL) -> bool:
    """True when every group's kept count is within its range, the downsampled groups' ranges
    together missed by a correct run with probability ``level``; a group kept whole keeps all.

    Example:
        >>> counts_within_bound({0: ClassOutcome(1_000, 1e3, 1e3, 10.0, 160, 1600.0)})
        False
    """
    each = group_level(level, sum(1 for o in outcomes.values() if o.factor > 1))
    return all(_within(o.rows_after, o.kept_range(each)) for o in outcomes.values())


def _within(count: int, kept_range: tuple[float, float]) -> bool:
    lowest, highest = kept_range
    return lowest - _FLOAT_SLACK <= count <= highest + _FLOAT_SLACK


def check_prediction_bias(
    outcomes: Mapping[Label, ClassOutcome], level: float = CHECK_LEVEL
) -> BiasCheck:
    """Compare the input's class shares with the output's weight-weighted class shares.

    Upweighting by the sampling factor keeps each class's weighted total equal to its
    original total in expectation; the tolerance is that many standard deviations of the
    weighted share (delta method over the per-class weighted totals) that a correct run
    strays beyond with probability ``level``, over all its classes (and the label mean).
    """
    numeric = all(isinstance(label, int | float) for label in outcomes)
    sigmas = normal_sigmas(group_level(level, len(outcomes) + numeric))
    total_before = sum(o.weight_before for o in outcomes.values())
    total_after = sum(o.weight_after for o in outcomes.values())
    share_before = {label: o.weight_before / total_before for label, o in outcomes.items()}
    share_after = {
        label: (o.weight_after / total_after if total_after > 0 else 0.0)
        for label, o in outcomes.items()
    }
    total_variance = sum(o.weight_after_variance for o in outcomes.values())
    share_tolerance = {
        label: sigmas * _share_sd(share_before[label], o, total_variance, total_before)
        + _FLOAT_SLACK
        for label, o in outcomes.items()
    }
    passed = all(
        abs(share_after[label] - share_before[label]) <= share_tolerance[label]
        for label in outcomes
    )
    mean_before = mean_after = mean_tolerance = None
    if numeric:
        mean_before = sum(float(label) * share for label, share in share_before.items())
        mean_after = sum(float(label) * share for label, share in share_after.items())
        mean_variance = sum(
            ((float(label) - mean_before) / total_before) ** 2 * o.weight_after_variance
            for label, o in outcomes.items()
        )
        mean_tolerance = sigmas * math.sqrt(mean_variance) + _FLOAT_SLACK
        passed = passed and abs(mean_after - mean_before) <= mean_tolerance
    return BiasCheck(
        share_before=_by_text(share_before),
        weighted_share_after=_by_text(share_after),
        share_tolerance=_by_text(share_tolerance),
        label_mean_before=mean_before,
        weighted_label_mean_after=mean_after,
        label_mean_tolerance=mean_tolerance,
        sigmas=sigmas,
        verdict="PASS" if passed else "FAIL",
    )


def _by_text(values: Mapping[Label, float]) -> dict[str, float]:
    return {str(label): value for label, value in values.items()}


def _share_sd(
    share_before: float, outcome: ClassOutcome, total_variance: float, total_before: float
) -> float:
    """The deviation of a class's weighted share after (delta method): the share moves with
    its own class's total as (1 - share) / total and with every other's as -share / total.

    Summed over the classes as share**2 x every class's variance, plus the class's own
    correction, so the check stays linear in the number of classes.
    """
    own = ((1.0 - share_before) ** 2 - share_before**2) * outcome.weight_after_variance
    variance = (share_before**2 * total_variance + own) / total_before**2
    return math.sqrt(max(variance, 0.0))
