"""How far a correct sample's kept count can stray: bounds that hold for a whole run. Pure Python.

A run checks one count per downsampled group (a class, or a class within a stratum). Held to
a fixed number of sigma each, a run of many groups fails by chance more often the more groups
it has, and small groups fail more often than the normal curve says. So the run's chance of a
false failure is fixed instead (``RUN_FALSE_FAILURE``), shared out over its groups (Šidák: the
groups are sampled independently), and a small group's range comes from its exact binomial
tails.
"""

from __future__ import annotations

import math
from statistics import NormalDist

# The chance that a correct run fails its checks: half for the counts, half for the bias.
RUN_FALSE_FAILURE = 1e-6
CHECK_LEVEL = RUN_FALSE_FAILURE / 2

# Below this binomial deviation the tails are summed exactly; above, the normal curve with its
# skew (Cornish-Fisher) is within a few percent of them at these levels, and a group's exact
# sum would cost some ten terms per unit of deviation.
EXACT_MAX_SD = 100.0
# Tail terms smaller than this share of the tail so far no longer change the range.
_TAIL_PRECISION = 1e-9


def group_level(level: float, groups: int) -> float:
    """The level each of ``groups`` independent tests is held to, so that any one fails with
    probability ``level`` (Šidák).

    Example:
        >>> round(group_level(1e-2, 10), 8)
        0.00100453
    """
    return -math.expm1(math.log1p(-level) / max(groups, 1))


def normal_sigmas(level: float) -> float:
    """The two-sided normal bound: a standard normal strays beyond it with probability ``level``.

    Example:
        >>> round(normal_sigmas(0.05), 3)
        1.96
    """
    return -NormalDist().inv_cdf(level / 2)


def normal_range(mean: float, variance: float, level: float) -> tuple[float, float]:
    """Where a normal count of this mean and variance stays but with probability ``level``."""
    half_width = normal_sigmas(level) * math.sqrt(variance)
    return mean - half_width, mean + half_width


def binomial_range(rows: int, keep_fraction: float, level: float) -> tuple[float, float]:
    """Where a Binomial(``rows``, ``keep_fraction``) kept count stays but with probability at
    most ``level``, at most half of it in each tail: exact tails for small deviations.

    Example:
        >>> binomial_range(100, 0.1, 1e-3)
        (2, 21)
    """
    if keep_fraction >= 1.0 or rows == 0:
        return rows, rows
    sd = math.sqrt(rows * keep_fraction * (1.0 - keep_fraction))
    if sd > EXACT_MAX_SD:
        return _skewed_normal_range(rows, keep_fraction, sd, level)
    highest = _upper_cut(rows, keep_fraction, level / 2)
    lowest = rows - _upper_cut(rows, 1.0 - keep_fraction, level / 2)
    return lowest, highest


def _skewed_normal_range(
    rows: int, keep_fraction: float, sd: float, level: float
) -> tuple[float, float]:
    """The normal range shifted by the binomial's skew (Cornish-Fisher, first term)."""
    z = normal_sigmas(level)
    shift = (1.0 - 2.0 * keep_fraction) / sd * (z * z - 1.0) / 6.0
    mean = rows * keep_fraction
    return mean - sd * (z - shift), mean + sd * (z + shift)


def _upper_cut(rows: int, keep_fraction: float, tail: float) -> int:
    """The smallest count ``k`` with P(X > k) <= ``tail`` for X ~ Binomial(rows, keep_fraction).

    Starts above it, where Bernstein's inequality puts P(X > k) below ``tail`` for sure, sums
    the tail beyond that point, then walks down adding one term at a time.
    """
    mean, variance = rows * keep_fraction, rows * keep_fraction * (1.0 - keep_fraction)
    log_odds = math.log(1.0 / tail)
    start = mean + log_odds / 3.0 + math.sqrt((log_odds / 3.0) ** 2 + 2.0 * variance * log_odds)
    cut = min(rows, math.ceil(start))
    odds = keep_fraction / (1.0 - keep_fraction)
    term = _pmf(rows, keep_fraction, cut)  # P(X = cut)
    beyond = _tail_above(rows, odds, cut, term)  # P(X > cut)
    while cut > 0:
        with_cut = beyond + term  # P(X > cut - 1)
        if with_cut > tail:
            return cut
        term *= cut / (rows - cut + 1) / odds  # P(X = cut - 1) from P(X = cut)
        beyond, cut = with_cut, cut - 1
    return 0


def _tail_above(rows: int, odds: float, count: int, term: float) -> float:
    """P(X > ``count``) from ``term`` = P(X = count), summed until the terms no longer count."""
    total = 0.0
    for k in range(count, rows):
        term *= (rows - k) / (k + 1) * odds  # P(X = k + 1) from P(X = k)
        total += term
        if term <= total * _TAIL_PRECISION:
            break
    return total


def _pmf(rows: int, keep_fraction: float, count: int) -> float:
    log_choose = math.lgamma(rows + 1) - math.lgamma(count + 1) - math.lgamma(rows - count + 1)
    return math.exp(
        log_choose + count * math.log(keep_fraction) + (rows - count) * math.log1p(-keep_fraction)
    )
