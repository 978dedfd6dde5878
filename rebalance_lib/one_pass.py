"""One-pass runs: the plan is stated (factor, minority, classes), the counts come with the write.

Observing every input row during the write costs about as much per row as the sampling
itself (a CollectMetrics node on the whole input), so when it can, a one-pass run does not:
for two classes without input weights, and with null labels refused, the kept-whole
minority's input count is its output count (observed on the small output), and the other
class is the table's row count (answered by Delta from its file statistics) minus it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation, SparkSession

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.plan import Plan, stated_factor_plan
from rebalance_lib.grouped import is_grouped
from rebalance_lib.stages import PhaseTimer, Planned
from rebalance_lib.storage.sink import WriteResult, undo_write
from rebalance_lib.storage.source import read_source
from rebalance_lib.transforms.measure import ClassTotals, observe_source_profile, observed_profile
from rebalance_lib.transforms.profile import (
    ClassStats,
    TableProfile,
    as_label_type,
    check_columns,
    fail_on_invalid_rows,
    profile_classes,
)


@dataclass(frozen=True)
class InputCounting:
    """How a one-pass run learns the input's class counts: observed, or derived after."""

    unchecked_df: DataFrame  # the input as read, for a metadata-only row count
    observation: Observation | None  # set when every input row must be observed


def open_one_pass(
    spark: SparkSession, config: RebalanceConfig, timer: PhaseTimer
) -> tuple[Planned, InputCounting]:
    """Open the input for a one-pass run.

    Rows the run cannot take (a label not listed, a null label, a bad weight) fail the write
    itself through SQL checks, so nothing is committed.
    """
    factor, minority, classes = config.target.factor, config.label.minority, config.label.classes
    if factor is None or minority is None or not classes:
        raise ConfigError(
            "--one-pass needs --factor F, --minority LABEL and --classes (every label value, "
            "e.g. 0,1); without them run in two passes"
        )
    config.target.to_request()  # refuses a second target form left in the config file
    if is_grouped(config):
        raise ConfigError(
            "--one-pass plans the whole table at once: leave out --strata/--split-col, "
            "or run in two passes"
        )
    label_col, input_weight_col = config.label.column, config.weight.input_column
    with timer.phase("open", "opening the input and pinning its version"):
        source_df, source = read_source(spark, config.input)
    check_columns(source_df, label_col, input_weight_col)
    labels = list(dict.fromkeys(as_label_type(value, source_df, label_col) for value in classes))
    minority_label = as_label_type(minority, source_df, label_col)
    if minority_label not in labels or len(labels) < 2:
        raise ConfigError(
            f"--classes must list at least two label values including the --minority "
            f"{minority_label!r} (got {', '.join(map(str, labels))})"
        )
    checked_df = source_df.transform(
        fail_on_invalid_rows, label_col, labels, config.label.null_labels, input_weight_col
    )
    derivable = (
        len(labels) == 2
        and input_weight_col is None
        and config.label.null_labels == "error"
        and source.delta_version is not None
    )
    observation = None
    if not derivable:
        checked_df, observation = observe_source_profile(
            checked_df, labels, label_col, input_weight_col
        )
    stated_plan = stated_factor_plan(
        dict.fromkeys(labels, 0), factor, minority_label, config.batch_size, source.size_bytes
    )
    planned = Planned(checked_df, source, TableProfile({}, 0, 0), stated_plan)
    return planned, InputCounting(source_df, observation)


def input_profile(
    counting: InputCounting,
    stated: Plan,
    output_totals: ClassTotals,
    config: RebalanceConfig,
    timer: PhaseTimer,
) -> TableProfile:
    """The input's class counts, once the write has run."""
    labels = [c.label for c in stated.classes]
    if counting.observation is None:
        with timer.phase("profile", "counting the input's rows from Delta's file statistics"):
            total_rows = counting.unchecked_df.count()
        minority_rows = output_totals.get(stated.minority_label, (0, 0.0))[0]
        other = next(label for label in labels if label != stated.minority_label)
        counts = {stated.minority_label: minority_rows, other: total_rows - minority_rows}
        classes = {
            label: ClassStats(rows, float(rows), float(rows)) for label, rows in counts.items()
        }
        return TableProfile(classes, null_label_rows=0, bad_weight_rows=0)
    profile = observed_profile(counting.observation, labels)
    if profile is None:
        with timer.phase("profile", "counting classes (the write did not report them)"):
            profile = profile_classes(
                counting.unchecked_df, config.label.column, config.weight.input_column
            )
    return profile


def plan_after_write(
    spark: SparkSession,
    planned: Planned,
    profile: TableProfile,
    write: WriteResult,
) -> Planned:
    """The stated plan with the input's counts; a write of an input that turns out to have
    no minority rows, or one class only, is taken back."""
    stated = planned.plan
    present = {label: rows for label, rows in profile.class_counts.items() if rows > 0}
    if present.get(stated.minority_label, 0) == 0 or len(present) < 2:
        undo_write(spark, write)
        raise InputError(
            f"the input has {profile.rows:,} rows and none or only one class of --classes "
            f"(minority {stated.minority_label!r}): nothing was kept; check --input and --classes"
        )
    plan = stated_factor_plan(
        present, stated.factor, stated.minority_label, stated.batch_size, stated.input_size_bytes
    )
    return Planned(planned.source_df, planned.source, profile, plan)
