"""What one aggregation over the input tells: rows and weight sums per class or group."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rebalance_lib.core.bounds import CHECK_LEVEL, normal_sigmas
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
class TaskSpread:
    """How the labelled rows spread over the tasks Spark reads the input in: Pearson's
    chi-square of the (task x class) row counts against every task holding the table's class
    shares, and its degrees of freedom.

    Example:
        Two tasks of 500 rows, one holding 250 of each class and the other 200 and 300:

        >>> sums = {0: (250**2 + 200**2) / 500, 1: (250**2 + 300**2) / 500}
        >>> spread = TaskSpread.of(2, sums, {0: 450, 1: 550})
        >>> round(spread.chi_square, 2), spread.degrees_of_freedom
        (10.1, 1)
    """

    tasks: int  # the tasks that read labelled rows
    classes: int
    chi_square: float

    @property
    def degrees_of_freedom(self) -> int:
        return max((self.tasks - 1) * (self.classes - 1), 0)

    @classmethod
    def of(
        cls, tasks: int, share_square_sums: Mapping[Label, float], class_rows: Mapping[Label, int]
    ) -> TaskSpread:
        """From each class's sum over the tasks of n²/N (n: the class's rows in the task, N:
        the task's labelled rows) and its rows: chi-square = all rows x (the sum over classes
        of that sum over the class's rows, minus 1)."""
        rows = sum(class_rows.values())
        spread = sum(share_square_sums[label] / class_rows[label] for label in share_square_sums)
        return cls(tasks, len(share_square_sums), max(rows * (spread - 1.0), 0.0))

    @property
    def mixed(self) -> bool:
        """Whether every task holds the classes in the table's shares, up to what rows placed
        at random would give: the chi-square within the run's check level above its mean
        (normal approximation, standard deviation sqrt(2 x degrees of freedom)).

        Example:
            >>> TaskSpread(21, 2, 30.0).mixed, TaskSpread(21, 2, 5_000.0).mixed
            (True, False)
        """
        dof = self.degrees_of_freedom
        return self.chi_square <= dof + normal_sigmas(CHECK_LEVEL) * math.sqrt(2 * dof)


@dataclass(frozen=True)
class TableProfile:
    """The input's classes; null labels and unusable weights counted, not yet judged.

    ``task_spread`` is set when the classes were also counted per task of the input's read
    (the ungrouped profile): a write that keeps that read's tasks can then order each task's
    rows on their own when the classes are already mixed across them.
    """

    classes: dict[Label, ClassStats]
    null_label_rows: int
    bad_weight_rows: int
    task_spread: TaskSpread | None = None

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
