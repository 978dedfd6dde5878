"""Runs planned within strata and/or for the training split only. Pure Python.

Rows are grouped by [split column] + strata columns + label. Only the training split is
planned (within each stratum); other splits pass through with their own weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rebalance_lib.core.checks import ClassOutcome, merge_outcomes, with_kept_key_sizes
from rebalance_lib.core.counts import GroupedProfile, GroupValues, SampleGroups
from rebalance_lib.core.keys import canonical
from rebalance_lib.core.plan import Plan, with_realized_factors
from rebalance_lib.core.strata import GroupKey, StratifiedPlan, plan_strata
from rebalance_lib.core.targets import Label, TargetRequest

GroupTotals = dict[GroupValues, tuple[int, float]]  # rows and weight sum written per group


@dataclass(frozen=True)
class Grouping:
    """How rows are grouped, and the plan of each group of the training split."""

    plan: StratifiedPlan
    profile: GroupedProfile
    label_column: str
    split_column: str | None
    train_value: Any

    @property
    def columns(self) -> tuple[str, ...]:
        split = (self.split_column,) if self.split_column else ()
        return (*split, *self.plan.strata_columns, self.label_column)

    def is_train(self, key: GroupValues) -> bool:
        return self.split_column is None or key[0] == self.train_value

    def stratum_key(self, key: GroupValues) -> GroupKey:
        return key[1:] if self.split_column else key

    def _keyed(self, values: Mapping[GroupKey, float]) -> dict[GroupValues, float]:
        prefix = (self.train_value,) if self.split_column else ()
        return {(*prefix, *key): value for key, value in values.items()}

    def sample_groups(self) -> SampleGroups:
        return SampleGroups(
            columns=self.columns,
            keep_fractions=self._keyed(self.plan.keep_fractions),
            weight_multipliers=self._keyed(self.plan.weight_multipliers),
            rows={key: stats.rows for key, stats in self.profile.groups.items()},
        )

    @property
    def combined_plan(self) -> Plan:
        return self.plan.combined()

    def outcomes(
        self, totals: GroupTotals, key_sizes: Mapping[GroupValues, int] | None = None
    ) -> tuple[dict[GroupValues, ClassOutcome], dict[Label, ClassOutcome]]:
        """Outcomes per training group, and per label merged over the strata; with the kept
        keys' sizes per group of a sample of whole keys, each group's variance from them."""
        class_plans = self.plan.group_plans()
        per_group = {}
        for key, stats in self.profile.groups.items():
            if not self.is_train(key):
                continue
            rows_after, weight_after = totals.get(key, (0, 0.0))
            outcome = ClassOutcome(
                rows_before=stats.rows,
                weight_before=stats.weight_sum,
                weight_sq_before=stats.weight_sq_sum,
                factor=class_plans[self.stratum_key(key)].factor,
                rows_after=rows_after,
                weight_after=weight_after,
            )
            if key_sizes is not None:
                outcome = with_kept_key_sizes(outcome, key_sizes.get(key, 0))
            per_group[key] = outcome
        by_label: dict[Label, list[ClassOutcome]] = {}
        for key, outcome in per_group.items():
            by_label.setdefault(key[-1], []).append(outcome)
        labels = sorted(by_label, key=lambda label: (str(type(label)), label))
        per_label = {label: merge_outcomes(by_label[label]) for label in labels}
        return per_group, per_label


def strata_columns(strata: Sequence[str], label_col: str) -> tuple[str, ...]:
    """The strata columns besides the label (strata ``label,country`` -> ("country",))."""
    return tuple(name for name in strata if name != label_col)


def plan_grouping(
    profile: GroupedProfile,
    label_col: str,
    strata: tuple[str, ...],
    split_col: str | None,
    train_value: Any,
    request: TargetRequest,
    batch_size: int,
    minority: Label | None,
    input_size_bytes: int | None,
    realized_weights: bool,
) -> Grouping:
    """Plan each stratum of the training split from the per-group counts (keyed by
    ``group_key``, as ``train_value`` is then)."""
    train_value = canonical(train_value)
    train_counts = {
        (key[1:] if split_col else key): stats.rows
        for key, stats in profile.groups.items()
        if split_col is None or key[0] == train_value
    }
    plan = plan_strata(train_counts, strata, request, batch_size, minority, input_size_bytes)
    if realized_weights:
        realized = {stratum: with_realized_factors(p) for stratum, p in plan.plans.items()}
        plan = replace(plan, plans=realized)
    return Grouping(plan, profile, label_col, split_col, train_value)
