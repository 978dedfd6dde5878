"""Factor sweeps: one sample at the smallest factor serves every larger one. Pure Python.

Each kept row carries its draw u in [0, 1), the seeded hash of its key the hash sampler
keeps it by. At factor F a class's rows are those with u < its keep fraction at F, which
only shrinks as F grows, so the samples are nested: every row of F = 20 is a row of
F = 10. The plan at any F >= the smallest is the very plan a single run at F makes (same
counts, same planner), so selecting F from the sweep gives exactly that run's rows and
weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rebalance_lib.core.bounds import CHECK_LEVEL
from rebalance_lib.core.checks import (
    BiasCheck,
    ClassOutcome,
    check_prediction_bias,
    counts_within_bound,
)
from rebalance_lib.core.counts import ClassStats
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.plan import (
    ADVISED_MINORITY_PER_BATCH,
    Plan,
    check_no_class_vanishes,
    human_bytes,
    plan_rebalance,
    rows_per_batch,
)
from rebalance_lib.core.targets import Label, TargetRequest

# The output column holding each row's draw; its Spark metadata, under this key, holds what
# ``select_factor`` needs (``SweepPlan.to_metadata``), and Delta keeps column metadata.
DRAW_COLUMN = "rebalance_draw"
METADATA_KEY = "rebalance_sweep"
_METADATA_VERSION = 1


def sweep_factors(factors: Iterable[float]) -> tuple[float, ...]:
    """The factors of a sweep, checked, ascending and without repeats.

    Example:
        >>> sweep_factors([20, 5, 10, 5])
        (5.0, 10.0, 20.0)
    """
    values = list(factors)
    if not values:
        raise ConfigError("a sweep needs at least one factor, e.g. 5,10,20", fix={"factors": None})
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"factors must be numbers (got {value!r})", fix={"factors": None})
        if not math.isfinite(value) or value < 1:
            raise ConfigError(
                f"every factor must be a finite number of at least 1 (got {value:g}): each "
                "divides the majority",
                fix={"factors": None},
            )
    return tuple(sorted({float(value) for value in values}))


@dataclass(frozen=True)
class SweepPlan:
    """The counts a sweep was planned from and its factors: the plan of any factor >= the
    smallest, and what ``select_factor`` finds in the draw column's metadata."""

    factors: tuple[float, ...]  # ascending; the table holds the rows of the first
    class_rows: tuple[tuple[Label, int], ...]
    minority_label: Label
    batch_size: int
    label_column: str
    weight_column: str
    input_weight_column: str | None
    input_size_bytes: int | None = None

    @property
    def smallest(self) -> float:
        return self.factors[0]

    @property
    def check_level(self) -> float:
        """The level of each of the run's checks, the table's own and every factor's, so that
        a correct sweep fails any of them with probability ``CHECK_LEVEL`` at most."""
        return CHECK_LEVEL / (len(self.factors) + 1)

    def plan_at(self, factor: float) -> Plan:
        """The plan of a single run at ``factor`` on the same counts; below the smallest
        factor the sweep's table lacks rows, so that is refused.

        Example:
            >>> sweep = SweepPlan(
            ...     factors=(5.0, 10.0, 20.0),
            ...     class_rows=((0, 100_000), (1, 1_000)),
            ...     minority_label=1,
            ...     batch_size=128,
            ...     label_column="label",
            ...     weight_column="weight",
            ...     input_weight_column=None,
            ... )
            >>> sweep.plan_at(20).for_label(0).weight_multiplier
            20.0
        """
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ConfigError(f"factor must be a number (got {factor!r})", fix={"factor": None})
        if not factor >= self.smallest:
            raise ConfigError(
                f"factor {factor:g} is below the sweep's smallest factor {self.smallest:g}: its "
                f"table holds only the rows kept at {self.smallest:g} or more; sweep again "
                "from a smaller factor",
                fix={"factor": None},
            )
        return plan_rebalance(
            dict(self.class_rows),
            TargetRequest(factor=float(factor)),
            batch_size=self.batch_size,
            minority=self.minority_label,
            input_size_bytes=self.input_size_bytes,
        )

    @property
    def plans(self) -> tuple[tuple[float, Plan], ...]:
        """Each requested factor and its plan, ascending."""
        return tuple((factor, self.plan_at(factor)) for factor in self.factors)

    def check(self) -> None:
        """Refuse, as a single run would, a requested factor that could empty a class."""
        for _, plan in self.plans:
            check_no_class_vanishes(plan)

    def narrowed_to(self, factor: float) -> SweepPlan:
        """The sweep of rows already cut to ``factor``: its smallest factor is ``factor``."""
        self.plan_at(factor)
        larger = tuple(f for f in self.factors if f > factor)
        return replace(self, factors=(float(factor), *larger))

    def advice(self) -> tuple[str, ...]:
        """Which factor of the sweep is the first to give several minority rows per batch
        (``ADVISED_MINORITY_PER_BATCH``), at what size."""
        wanted = ADVISED_MINORITY_PER_BATCH
        plans = self.plans
        batch = self.batch_size
        summary = "; ".join(
            f"F={factor:g}: {plan.minority_per_batch_after:.1f} per batch, "
            f"about {plan.expected_rows_after:,.0f} rows"
            for factor, plan in plans
        )
        lines = [f"Sweep: {summary}."]
        reaching = [
            (factor, plan) for factor, plan in plans if plan.minority_per_batch_after >= wanted
        ]
        if reaching:
            factor, plan = reaching[0]
            size = plan.expected_size_bytes
            lines.append(
                f"F={factor:g} is the smallest factor of the sweep with at least {wanted} minority "
                f"rows per batch of {batch} ({plan.minority_per_batch_after:.1f}), keeping about "
                f"{plan.expected_rows_after:,.0f} rows"
                + (f" ({human_bytes(size)})" if size is not None else "")
                + "; larger factors trade more rows per batch for heavier weights."
            )
        else:
            factor, plan = plans[-1]
            lines.append(
                f"No factor of the sweep reaches {wanted} minority rows per batch of {batch}: "
                f"the largest, F={factor:g}, gives {plan.minority_per_batch_after:.1f}; add a "
                "larger factor or a larger batch."
            )
        return tuple(lines)

    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready, for the draw column's metadata (labels keep their JSON type)."""
        return {
            "version": _METADATA_VERSION,
            "factors": list(self.factors),
            "classes": [{"label": label, "rows": rows} for label, rows in self.class_rows],
            "minority_label": self.minority_label,
            "batch_size": self.batch_size,
            "label_column": self.label_column,
            "weight_column": self.weight_column,
            "input_weight_column": self.input_weight_column,
            "input_size_bytes": self.input_size_bytes,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> SweepPlan:
        """The sweep ``to_metadata`` described."""
        if metadata.get("version") != _METADATA_VERSION:
            raise ConfigError(
                f"the draw column was written by another version of rebalance "
                f"(sweep metadata version {metadata.get('version')!r}): sweep again"
            )
        return cls(
            factors=tuple(float(f) for f in metadata["factors"]),
            class_rows=tuple((c["label"], int(c["rows"])) for c in metadata["classes"]),
            minority_label=metadata["minority_label"],
            batch_size=int(metadata["batch_size"]),
            label_column=metadata["label_column"],
            weight_column=metadata["weight_column"],
            input_weight_column=metadata["input_weight_column"],
            input_size_bytes=metadata["input_size_bytes"],
        )


@dataclass(frozen=True)
class FactorResult:
    """One factor of a sweep as measured on the written table."""

    factor: float
    plan: Plan
    outcomes: dict[Label, ClassOutcome]
    level: float = CHECK_LEVEL

    @property
    def rows_after(self) -> int:
        return sum(o.rows_after for o in self.outcomes.values())

    @property
    def minority_rows_after(self) -> int:
        return self.outcomes[self.plan.minority_label].rows_after

    @property
    def minority_per_batch(self) -> float:
        if self.rows_after == 0:
            return 0.0
        return rows_per_batch(self.minority_rows_after, self.rows_after, self.plan.batch_size)

    @property
    def counts_within_bound(self) -> bool:
        return counts_within_bound(self.outcomes, self.level)

    @property
    def bias_check(self) -> BiasCheck:
        return check_prediction_bias(self.outcomes, self.level)

    @property
    def passed(self) -> bool:
        return self.counts_within_bound and self.bias_check.passed


# Per factor, per class: rows of the factor's sample and the sum of their input weights.
SweepTotals = Mapping[float, Mapping[Label, tuple[int, float]]]


def factor_results(
    sweep: SweepPlan,
    before: Mapping[Label, ClassStats],
    totals: SweepTotals,
    key_rows: Mapping[Label, float] | None = None,
) -> list[FactorResult]:
    """Each factor's outcomes: rows kept, and weighted totals = input weights x the class's
    factor at F (the weight ``select_factor`` gives them). ``key_rows``: per class, its keys'
    mean rows weighted by their rows (``ClassOutcome.key_rows``), the same at every factor."""
    results = []
    for factor, plan in sweep.plans:
        kept = totals.get(factor, {})
        outcomes = {
            c.label: ClassOutcome(
                rows_before=c.rows_before,
                weight_before=before[c.label].weight_sum,
                weight_sq_before=before[c.label].weight_sq_sum,
                factor=c.factor,
                rows_after=kept.get(c.label, (0, 0.0))[0],
                weight_after=kept.get(c.label, (0, 0.0))[1] * c.weight_multiplier,
                key_rows=(key_rows or {}).get(c.label, 1.0),
            )
            for c in plan.classes
        }
        results.append(FactorResult(factor, plan, outcomes, sweep.check_level))
    return results
