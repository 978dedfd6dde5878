"""Open and plan an input, in one of three ways chosen once per run.

- two passes (the default): count the classes (or groups), then plan;
- one pass: the plan is stated (factor, minority, classes) and the counts come with the
  write, so the counting settles after it;
- an increment: only the rows appended to the source since the output's last run, planned
  with that run's factors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pyspark.sql import DataFrame, Observation, SparkSession

from rebalance_lib.core.counts import ClassStats, SampleGroups, TableProfile
from rebalance_lib.core.errors import InputError, NothingToDo
from rebalance_lib.core.grouping import Grouping, plan_grouping
from rebalance_lib.core.increment import increment_plan
from rebalance_lib.core.options import RunOptions
from rebalance_lib.core.plan import (
    Plan,
    check_no_class_vanishes,
    plan_rebalance,
    stated_factor_plan,
    with_realized_factors,
)
from rebalance_lib.core.sweep import SweepPlan
from rebalance_lib.core.tables import Table
from rebalance_lib.core.targets import Label
from rebalance_lib.runs.timer import PhaseTimer
from rebalance_lib.storage.increment import appended_rows, previous_run
from rebalance_lib.storage.sink import WriteResult, after_taking_back, undo_write
from rebalance_lib.storage.source import SourceInfo
from rebalance_lib.transforms.measure import (
    ClassTotals,
    observe_source_profile,
    observed_profile,
)
from rebalance_lib.transforms.profile import (
    as_label_type,
    check_columns,
    fail_on_invalid_rows,
    profile_classes,
    profile_groups,
)


class Counting(Protocol):
    """When the input's counts are final: before the write, or only after it."""

    @property
    def source_passes(self) -> int: ...

    def settle(
        self,
        opened: Opened,
        write: WriteResult,
        output_totals: ClassTotals | None,
        timer: PhaseTimer,
    ) -> Opened: ...


@dataclass(frozen=True)
class Opened:
    """The input opened and planned: everything `rebalance plan` shows."""

    rows_df: DataFrame  # the rows to sample (checked row by row in a one-pass run)
    source: SourceInfo
    profile: TableProfile  # every row read, all splits (empty until a one-pass write)
    plan: Plan
    counting: Counting
    grouping: Grouping | None = None  # set when planned within strata or the train split
    sweep: SweepPlan | None = None  # set for a factor sweep: ``plan`` is its smallest factor's

    @property
    def advice(self) -> tuple[str, ...]:
        advice = self.grouping.plan.advice() if self.grouping else self.plan.advice
        return advice + (self.sweep.advice() if self.sweep else ())

    def sample_groups(self, label_col: str) -> SampleGroups:
        return (
            self.grouping.sample_groups() if self.grouping else self.plan.sample_groups(label_col)
        )


@dataclass(frozen=True)
class KnownCounts:
    """Counted before the write: nothing changes after it."""

    source_passes: int

    def settle(
        self,
        opened: Opened,
        write: WriteResult,
        output_totals: ClassTotals | None,
        timer: PhaseTimer,
    ) -> Opened:
        return opened


def plan_rows(
    rows_df: DataFrame, source: SourceInfo, options: RunOptions, timer: PhaseTimer
) -> Opened:
    """Count the classes (or groups) of ``rows_df`` in one pass and plan (pure Python)."""
    counting = KnownCounts(options.sampling.source_passes)
    if options.is_grouped:
        grouping = _plan_groups(rows_df, source, options, timer)
        _check_profile(grouping.profile.table(), options)
        if not options.sampling.exact:
            check_no_class_vanishes(grouping.combined_plan)
        return Opened(
            rows_df,
            source,
            grouping.profile.table(),
            grouping.combined_plan,
            counting,
            grouping,
        )
    label_col = options.label_col
    with timer.phase(
        "profile",
        f"counted the classes of '{label_col}'",
        job=f"count classes of '{label_col}' in {source.subject}",
    ) as note:
        profile = profile_classes(rows_df, label_col, options.input_weight_col)
        note.found = f"{profile.rows:,} rows in {len(profile.classes):,} classes"
    _check_profile(profile, options)
    plan = plan_rebalance(
        profile.class_counts,
        options.request,
        batch_size=options.batch_size,
        minority=options.minority,
        input_size_bytes=source.size_bytes,
    )
    if options.sampling.weight_basis == "realized":
        plan = with_realized_factors(plan)
    if not options.sampling.exact:
        check_no_class_vanishes(plan)
    sweep = _plan_sweep(plan, options, source) if options.sweep_factors else None
    return Opened(rows_df, source, profile, plan, counting, sweep=sweep)


def _plan_sweep(plan: Plan, options: RunOptions, source: SourceInfo) -> SweepPlan:
    """Every factor of the sweep planned on the same counts, as single runs would be."""
    sweep = SweepPlan(
        factors=options.sweep_factors,
        class_rows=tuple((c.label, c.rows_before) for c in plan.classes),
        minority_label=plan.minority_label,
        batch_size=options.batch_size,
        label_column=options.label_col,
        weight_column=options.weight_col,
        input_weight_column=options.input_weight_col,
        input_size_bytes=source.size_bytes,
    )
    sweep.check()
    return sweep


def check_schema(rows_df: DataFrame, options: RunOptions) -> None:
    """Refuse, from the schema alone, the columns a run names but the input lacks or cannot
    use (the label, the input weight, the strata and split columns)."""
    check_columns(rows_df, options.label_col, options.input_weight_col, _group_columns(options))


def _group_columns(options: RunOptions) -> list[str]:
    """The columns a grouped run counts by, besides the label."""
    split_col = options.split_col
    return ([split_col] if split_col else []) + list(options.strata_columns)


def _plan_groups(
    rows_df: DataFrame, source: SourceInfo, options: RunOptions, timer: PhaseTimer
) -> Grouping:
    split_col = options.split_col
    group_cols = _group_columns(options)
    grouped_by = [*group_cols, options.label_col]
    with timer.phase(
        "profile",
        "counted the rows of each group",
        job=f"count rows per group of {', '.join(grouped_by)} in {source.subject}",
    ) as note:
        profile = profile_groups(rows_df, options.label_col, group_cols, options.input_weight_col)
        note.found = f"{len(profile.groups):,} groups"
    train_value = (
        as_label_type(options.train_value, rows_df, split_col) if split_col is not None else None
    )
    return plan_grouping(
        profile,
        options.label_col,
        options.strata_columns,
        split_col,
        train_value,
        options.request,
        options.batch_size,
        options.minority,
        source.size_bytes,
        realized_weights=options.sampling.weight_basis == "realized",
    )


def _check_profile(profile: TableProfile, options: RunOptions) -> None:
    """Refuse null labels (unless dropped) and unusable weights, with their counts."""
    if profile.null_label_rows and options.null_labels == "error":
        raise InputError(
            f"{profile.null_label_rows:,} rows have a null '{options.label_col}': clean them, "
            "or drop them (the report counts them)",
            fix={"null_labels": "drop"},
        )
    if profile.bad_weight_rows:
        raise InputError(
            f"{profile.bad_weight_rows:,} rows have a null, zero, negative, NaN or infinite weight "
            f"in '{options.input_weight_col}': fix them or filter them out first"
        )


@dataclass(frozen=True)
class CountedDuringWrite:
    """A one-pass run's counts, settled once the write has run.

    Observing every input row during the write costs about as much per row as the sampling
    itself, so when it can, a one-pass run does not: for two classes without input weights,
    and with null labels refused, the kept-whole minority's input count is its output count
    (observed on the small output), and the other class is the table's row count (answered
    by Delta from its file statistics) minus it.
    """

    unchecked_df: DataFrame  # the input as read, for a metadata-only row count
    observation: Observation | None  # set when every input row must be observed
    label_col: str
    input_weight_col: str | None
    source_passes: int = 1

    def settle(
        self,
        opened: Opened,
        write: WriteResult,
        output_totals: ClassTotals | None,
        timer: PhaseTimer,
    ) -> Opened:
        stated = opened.plan
        profile = self._input_profile(stated, opened.source, output_totals or {}, write, timer)
        present = {label: rows for label, rows in profile.class_counts.items() if rows > 0}
        if present.get(stated.minority_label, 0) == 0 or len(present) < 2:
            spark = self.unchecked_df.sparkSession
            refused = InputError(
                f"the input has {profile.rows:,} rows and none or only one of the stated "
                f"classes (minority {stated.minority_label!r}): nothing was kept; check the "
                "input and the classes",
                fix={"classes": None},
            )
            raise after_taking_back(refused, lambda: undo_write(spark, write))
        plan = stated_factor_plan(
            present,
            stated.factor,
            stated.minority_label,
            stated.batch_size,
            stated.input_size_bytes,
        )
        return replace(opened, profile=profile, plan=plan)

    def _input_profile(
        self,
        stated: Plan,
        source: SourceInfo,
        output_totals: ClassTotals,
        write: WriteResult,
        timer: PhaseTimer,
    ) -> TableProfile:
        labels = [c.label for c in stated.classes]
        if self.observation is None:
            with timer.phase(
                "profile",
                "counted the input's rows from Delta's file statistics",
                job=f"count rows of {source.subject} from Delta's file statistics",
            ):
                total_rows = self.unchecked_df.count()
            minority_rows = output_totals.get(stated.minority_label, (0, 0.0))[0]
            other = next(label for label in labels if label != stated.minority_label)
            counts = {stated.minority_label: minority_rows, other: total_rows - minority_rows}
            classes = {label: ClassStats.unweighted(rows) for label, rows in counts.items()}
            return TableProfile(classes, null_label_rows=0, bad_weight_rows=0)
        profile = observed_profile(self.observation, labels, not write.skipped_as_repeat)
        if profile is None:
            with timer.phase(
                "profile",
                "counted the classes (the write did not report them)",
                job=f"count classes of '{self.label_col}' in {source.subject}",
            ):
                profile = profile_classes(self.unchecked_df, self.label_col, self.input_weight_col)
        return profile


def open_one_pass(
    source_df: DataFrame,
    source: SourceInfo,
    options: RunOptions,
    factor: float,
    classes: tuple[Label, ...],
) -> Opened:
    """Plan a one-pass run from what is stated; rows it cannot take fail the write itself."""
    label_col, input_weight_col = options.label_col, options.input_weight_col
    assert options.minority is not None  # checked by check_one_pass
    check_columns(source_df, label_col, input_weight_col)
    labels = list(dict.fromkeys(as_label_type(value, source_df, label_col) for value in classes))
    minority_label = as_label_type(options.minority, source_df, label_col)
    if minority_label not in labels or len(labels) < 2:
        raise InputError(
            f"the classes must list at least two label values including the minority "
            f"{minority_label!r} (got {', '.join(map(str, labels))})",
            fix={"classes": None},
        )
    checked_df = source_df.transform(
        fail_on_invalid_rows, label_col, labels, options.null_labels, input_weight_col
    )
    derivable = (
        len(labels) == 2
        and input_weight_col is None
        and options.null_labels == "error"
        and source.delta_version is not None
    )
    observation = None
    if not derivable:
        checked_df, observation = observe_source_profile(
            checked_df, labels, label_col, input_weight_col
        )
    stated_plan = stated_factor_plan(
        dict.fromkeys(labels, 0), factor, minority_label, options.batch_size, source.size_bytes
    )
    counting = CountedDuringWrite(source_df, observation, label_col, input_weight_col)
    return Opened(checked_df, source, TableProfile({}, 0, 0), stated_plan, counting)


def open_increment(
    spark: SparkSession,
    source: SourceInfo,
    options: RunOptions,
    output: Table,
    timer: PhaseTimer,
) -> Opened:
    """The rows appended to the source since the output's last run, planned with that run's
    factors; NothingToDo when there are none."""
    if source.delta_version is None or source.path is None:
        raise InputError(
            "an increment needs a Delta input path: it reads the source's versions",
            fix={"source": None},
        )
    sampling = options.sampling
    wanted = {
        "source": source.name,
        "sampler": sampling.method,
        "seed": sampling.seed,
        "sample_key": list(sampling.key),
        "label_column": options.label_col,
        "weight_column": options.weight_col,
    }
    previous = previous_run(spark, output, wanted)
    if source.delta_version <= previous.source_version:
        raise NothingToDo(
            f"{source.name} is still at version {source.delta_version}, already rebalanced"
        )
    appended_df = appended_rows(spark, source.path, previous.source_version, source.delta_version)
    since = previous.source_version
    appended = f"v{since + 1}-v{source.delta_version}"
    with timer.phase(
        "profile",
        f"counted the classes of the rows appended since version {since}",
        job=f"count classes of '{options.label_col}' in {appended} of {source.name}",
    ):
        profile = profile_classes(appended_df, options.label_col, options.input_weight_col)
    _check_profile(profile, options)
    if not profile.class_counts:
        raise InputError(
            f"{source.name} versions {since + 1}-{source.delta_version} added no labelled rows: "
            "nothing to append"
        )
    plan = increment_plan(previous, profile.class_counts, options.batch_size)
    increment_source = replace(source, appended_after_version=since)
    return Opened(appended_df, increment_source, profile, plan, KnownCounts(2))
