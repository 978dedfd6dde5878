"""What one aggregation over the input tells: rows and weight sums per class or group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rebalance_lib.core.targets import Label

GroupValues = tuple[Any, ...]  # values of the group columns, the label last


@dataclass(frozen=True)
class ClassStats:
    """One class of the input: rows, and the sums of its input weights (1.0 each by default)."""

    rows: int
    weight_sum: float
    weight_sq_sum: float

    @classmethod
    def unweighted(cls, rows: int) -> ClassStats:
        return cls(rows, float(rows), float(rows))


@dataclass(frozen=True)
class TableProfile:
    """The input's classes; null labels and unusable weights counted, not yet judged."""

    classes: dict[Label, ClassStats]
    null_label_rows: int
    bad_weight_rows: int

    @property
    def class_counts(self) -> dict[Label, int]:
        return {label: stats.rows for label, stats in self.classes.items()}

    @property
    def rows(self) -> int:
        return sum(self.class_counts.values()) + self.null_label_rows


@dataclass(frozen=True)
class GroupedProfile:
    """Rows and weight sums per (group values..., label), from one aggregation."""

    groups: dict[GroupValues, ClassStats]
    null_label_rows: int
    bad_weight_rows: int

    def table(self, include: Callable[[GroupValues], bool] = lambda _: True) -> TableProfile:
        """The included groups merged per label (null labels and bad weights of all rows)."""
        classes: dict[Label, ClassStats] = {}
        for key, stats in self.groups.items():
            if not include(key):
                continue
            seen = classes.get(key[-1], ClassStats(0, 0.0, 0.0))
            classes[key[-1]] = ClassStats(
                seen.rows + stats.rows,
                seen.weight_sum + stats.weight_sum,
                seen.weight_sq_sum + stats.weight_sq_sum,
            )
        return TableProfile(classes, self.null_label_rows, self.bad_weight_rows)


@dataclass(frozen=True)
class SampleGroups:
    """What the sampler and the weight column need: per group of rows, its keep fraction,
    its weight multiplier and its row count (groups not listed keep every row at weight x1)."""

    columns: tuple[str, ...]
    keep_fractions: dict[GroupValues, float]
    weight_multipliers: dict[GroupValues, float]
    rows: dict[GroupValues, int]
