"""Runs planned within strata and/or for the training split only: the Spark side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import DataFrame

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.checks import ClassOutcome, merge_outcomes
from rebalance_lib.core.plan import with_realized_factors
from rebalance_lib.core.strata import GroupKey, StratifiedPlan, plan_strata
from rebalance_lib.core.targets import Label
from rebalance_lib.report.model import SplitRow, SplitSection, StrataSection, StratumSection
from rebalance_lib.transforms.profile import GroupedProfile, as_label_type, profile_groups

GroupTotals = dict[tuple[Any, ...], tuple[int, float]]
TOP_STRATA = 20


def strata_columns(config: RebalanceConfig) -> tuple[str, ...]:
    """The strata columns besides the label (``--strata label,country`` -> ("country",))."""
    return tuple(name for name in config.sample.strata if name != config.label.column)


def is_grouped(config: RebalanceConfig) -> bool:
    return bool(strata_columns(config)) or config.split.column is not None


@dataclass(frozen=True)
class Grouping:
    """How rows are grouped: [split column] + strata columns + label, and the plan per group."""

    plan: StratifiedPlan
    profile: GroupedProfile
    label_column: str
    split_column: str | None
    train_value: Any

    @property
    def columns(self) -> list[str]:
        split = [self.split_column] if self.split_column else []
        return [*split, *self.plan.strata_columns, self.label_column]

    def is_train(self, key: tuple[Any, ...]) -> bool:
        return self.split_column is None or key[0] == self.train_value

    def stratum_key(self, key: tuple[Any, ...]) -> GroupKey:
        return key[1:] if self.split_column else key

    def _keyed(self, values: Mapping[GroupKey, float]) -> dict[tuple[Any, ...], float]:
        prefix = (self.train_value,) if self.split_column else ()
        return {(*prefix, *key): value for key, value in values.items()}

    @property
    def keep_fractions(self) -> dict[tuple[Any, ...], float]:
        return self._keyed(self.plan.keep_fractions)

    @property
    def weight_multipliers(self) -> dict[tuple[Any, ...], float]:
        return self._keyed(self.plan.weight_multipliers)


def plan_groups(
    source_df: DataFrame, config: RebalanceConfig, input_size_bytes: int | None
) -> Grouping:
    """Count rows per group in one column-pruned pass and plan each stratum of the train split."""
    label_col, split_col = config.label.column, config.split.column
    strata = strata_columns(config)
    group_cols = ([split_col] if split_col else []) + list(strata)
    profile = profile_groups(source_df, label_col, group_cols, config.weight.input_column)
    train_value = (
        as_label_type(config.split.train_value, source_df, split_col) if split_col else None
    )
    train_counts = {
        (key[1:] if split_col else key): stats.rows
        for key, stats in profile.groups.items()
        if split_col is None or key[0] == train_value
    }
    plan = plan_strata(
        train_counts,
        strata,
        config.target.to_request(),
        config.batch_size,
        config.label.minority,
        input_size_bytes,
    )
    if config.weight.basis == "realized":
        realized = {stratum: with_realized_factors(p) for stratum, p in plan.plans.items()}
        plan = replace(plan, plans=realized)
    return Grouping(plan, profile, label_col, split_col, train_value)


def group_outcomes(
    grouping: Grouping, totals: GroupTotals
) -> tuple[dict[tuple[Any, ...], ClassOutcome], dict[Label, ClassOutcome]]:
    """Outcomes per train group, and per label merged over the strata."""
    class_plans = grouping.plan.group_plans()
    per_group = {}
    for key, stats in grouping.profile.groups.items():
        if not grouping.is_train(key):
            continue
        rows_after, weight_after = totals.get(key, (0, 0.0))
        per_group[key] = ClassOutcome(
            rows_before=stats.rows,
            weight_before=stats.weight_sum,
            weight_sq_before=stats.weight_sq_sum,
            factor=class_plans[grouping.stratum_key(key)].factor,
            rows_after=rows_after,
            weight_after=weight_after,
        )
    labels = sorted({key[-1] for key in per_group}, key=lambda label: (str(type(label)), label))
    per_label = {
        label: merge_outcomes([o for key, o in per_group.items() if key[-1] == label])
        for label in labels
    }
    return per_group, per_label


def strata_section(
    grouping: Grouping, per_group: Mapping[tuple[Any, ...], ClassOutcome]
) -> StrataSection | None:
    """The largest groups of the train split, and the rest summed."""
    columns = grouping.plan.strata_columns
    if not columns:
        return None
    ranked = sorted(per_group.items(), key=lambda item: -item[1].rows_before)
    top, rest = ranked[:TOP_STRATA], ranked[TOP_STRATA:]
    return StrataSection(
        columns=list(columns),
        strata_planned=len(grouping.plan.plans),
        strata_kept_whole=len(grouping.plan.kept_whole),
        top=[
            StratumSection(
                stratum={
                    name: str(value)
                    for name, value in zip(columns, grouping.stratum_key(key)[:-1], strict=True)
                },
                label=key[-1],
                rows_before=o.rows_before,
                factor=o.factor,
                expected_rows_after=o.expected_rows_after,
                rows_after=o.rows_after,
            )
            for key, o in top
        ],
        rest_groups=len(rest),
        rest_rows_before=sum(o.rows_before for _, o in rest),
        rest_rows_after=sum(o.rows_after for _, o in rest),
    )


def split_section(grouping: Grouping, totals: GroupTotals) -> SplitSection | None:
    """Rows before and after per value of the split column."""
    if grouping.split_column is None:
        return None
    before: dict[Any, int] = {}
    after: dict[Any, int] = {}
    for key, stats in grouping.profile.groups.items():
        before[key[0]] = before.get(key[0], 0) + stats.rows
    for key, (rows, _) in totals.items():
        after[key[0]] = after.get(key[0], 0) + rows
    return SplitSection(
        column=grouping.split_column,
        train_value=str(grouping.train_value),
        splits=[
            SplitRow(
                value=str(value),
                rows_before=rows,
                rows_after=after.get(value, 0),
                rebalanced=value == grouping.train_value,
            )
            for value, rows in sorted(before.items(), key=lambda item: str(item[0]))
        ],
    )
