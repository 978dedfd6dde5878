"""Plans within strata (label x segment) and for the training split only. Pure Python.

A stratum is one combination of values of the strata columns (e.g. one country). The
request applies inside each stratum, so a rare segment's positives are not swamped by a
common segment's negatives. Rows outside the training split are never sampled or
reweighted; they are counted per split value for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rebalance_lib.core.errors import InputError, PlanError
from rebalance_lib.core.plan import ClassPlan, Plan, plan_rebalance
from rebalance_lib.core.targets import Label, TargetRequest, resolve_minority, resolve_per_class

StratumKey = tuple[Any, ...]  # values of the strata columns, in their order (no label)
GroupKey = tuple[Any, ...]  # stratum values then the label


@dataclass(frozen=True)
class StratifiedPlan:
    """One plan per stratum that has something to rebalance; other strata are kept whole."""

    strata_columns: tuple[str, ...]
    request: TargetRequest
    minority_label: Label
    plans: dict[StratumKey, Plan]
    kept_whole: dict[StratumKey, dict[Label, int]]
    batch_size: int
    input_size_bytes: int | None = None

    @property
    def keep_fractions(self) -> dict[GroupKey, float]:
        """(stratum..., label) -> keep fraction, for the downsampled groups only."""
        return self._downsampled(lambda c: c.keep_fraction)

    @property
    def weight_multipliers(self) -> dict[GroupKey, float]:
        return self._downsampled(lambda c: c.weight_multiplier)

    def _downsampled(self, value: Callable[[ClassPlan], float]) -> dict[GroupKey, float]:
        return {
            (*stratum, c.label): value(c)
            for stratum, plan in self.plans.items()
            for c in plan.classes
            if c.is_downsampled
        }

    def group_plans(self) -> dict[GroupKey, ClassPlan]:
        """Every (stratum..., label) with its class plan (factor 1 where kept whole)."""
        groups = {
            (*stratum, c.label): c for stratum, plan in self.plans.items() for c in plan.classes
        }
        for stratum, counts in self.kept_whole.items():
            for label, rows in counts.items():
                groups[(*stratum, label)] = ClassPlan(label, rows, 1.0)
        return groups

    def combined(self) -> Plan:
        """The whole table per label: effective factor = rows before / expected rows after."""
        rows: dict[Label, int] = {}
        expected: dict[Label, float] = {}
        for group_key, c in self.group_plans().items():
            label = group_key[-1]
            rows[label] = rows.get(label, 0) + c.rows_before
            expected[label] = expected.get(label, 0.0) + c.expected_rows_after
        classes = tuple(
            ClassPlan(label, rows[label], rows[label] / expected[label])
            for label in sorted(rows, key=lambda label: (str(type(label)), label))
        )
        return Plan(
            self.request, self.minority_label, self.batch_size, classes, self.input_size_bytes
        )

    def advice(self) -> tuple[str, ...]:
        lines = list(self.combined().advice)
        lines.insert(
            1,
            f"Stratified by {', '.join(self.strata_columns) or 'label'}: "
            f"{len(self.plans):,} strata planned, {len(self.kept_whole):,} kept whole "
            "(a single class, or no minority rows).",
        )
        return tuple(lines)


def plan_strata(
    group_counts: Mapping[GroupKey, int],
    strata_columns: tuple[str, ...],
    request: TargetRequest,
    batch_size: int,
    minority: Label | None = None,
    input_size_bytes: int | None = None,
) -> StratifiedPlan:
    """Apply ``request`` within each stratum of ``group_counts`` ((stratum..., label) -> rows).

    The minority label is chosen once for the whole table (the least frequent overall, or
    the named one); a stratum without it, or with one class only, is kept whole.

    Example:
        >>> counts = {("US", 0): 900_000, ("US", 1): 9_000, ("NZ", 0): 9_000, ("NZ", 1): 900}
        >>> plan = plan_strata(counts, ("country",), TargetRequest(target_ratio=10), 128)
        >>> plan.keep_fractions  # NZ is already at 10:1
        {('US', 0): 0.1}
    """
    if request.max_rows is not None:
        raise PlanError(
            "a maximum row count caps the whole table and cannot be split across strata: "
            "state a factor, target ratio or target minority share with strata",
            fix={"factor": None, "target_ratio": None, "target_minority_share": None},
        )
    label_totals: dict[Label, int] = {}
    by_stratum: dict[StratumKey, dict[Label, int]] = {}
    for (*stratum, label), rows in group_counts.items():
        if rows <= 0:
            continue
        label_totals[label] = label_totals.get(label, 0) + rows
        by_stratum.setdefault(tuple(stratum), {})[label] = rows
    if len(label_totals) < 2:
        raise InputError(
            "the rows to rebalance hold fewer than two classes: nothing to rebalance; "
            "check the label (and the split column and its training value)",
            fix={"label": None, "split_col": None, "train_value": None},
        )
    if request.class_targets is not None and strata_columns:
        raise PlanError(
            "class targets count rows of the whole table and cannot be split across strata: "
            "state class factors with strata (each stratum's class divided by its factor)",
            fix={"class_targets": None, "class_factors": None},
        )
    minority_label = resolve_minority(label_totals, minority)
    named = resolve_per_class(label_totals, request) if request.per_class is not None else ()
    plans: dict[StratumKey, Plan] = {}
    kept_whole: dict[StratumKey, dict[Label, int]] = {}
    for stratum_key, counts in by_stratum.items():
        stratum_request = _within(request, named, counts)
        if len(counts) < 2 or minority_label not in counts or stratum_request is None:
            kept_whole[stratum_key] = counts
            continue
        plans[stratum_key] = plan_rebalance(counts, stratum_request, batch_size, minority_label)
    return StratifiedPlan(
        strata_columns,
        request,
        minority_label,
        plans,
        kept_whole,
        batch_size,
        input_size_bytes,
    )


def _within(
    request: TargetRequest, named: tuple[tuple[Label, float], ...], counts: Mapping[Label, int]
) -> TargetRequest | None:
    """The request for one stratum: a per-class one names only the classes the stratum holds
    (None when it holds none of them, so nothing in it is downsampled)."""
    if request.per_class is None:
        return request
    held = tuple(
        (label, value)
        for label, value in named
        if any(label == present and type(label) is type(present) for present in counts)
    )
    if not held:
        return None
    if request.class_targets is not None:
        return replace(request, class_targets=held)
    return replace(request, class_factors=held)
