"""The one place a Report is built: from the plan, what the write measured, and the run's facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from rebalance_lib.core import versions
from rebalance_lib.core.batches import BatchCounts, unevenly_spread
from rebalance_lib.core.bounds import CHECK_LEVEL
from rebalance_lib.core.calibration import calibration_table
from rebalance_lib.core.checks import ClassOutcome, check_prediction_bias, counts_within_bound
from rebalance_lib.core.counts import GroupValues, TableProfile
from rebalance_lib.core.grouping import Grouping, GroupTotals
from rebalance_lib.core.keys import shown
from rebalance_lib.core.options import RowOrder, Sampling
from rebalance_lib.core.plan import Plan, degree_of_imbalance, rows_per_batch
from rebalance_lib.core.sweep import DRAW_COLUMN, FactorResult, SweepPlan
from rebalance_lib.core.targets import Label
from rebalance_lib.report.model import (
    BatchSection,
    CalibrationSection,
    ClassSection,
    FactorSection,
    FileOrderSection,
    OutputSection,
    Report,
    RequestSection,
    SourceSection,
    SplitRow,
    SplitSection,
    StrataSection,
    StratumSection,
    SweepSection,
)
from rebalance_lib.storage.sink import WriteResult
from rebalance_lib.storage.source import SourceInfo

TOP_STRATA = 20


@dataclass(frozen=True)
class Measured:
    """What one write holds: outcomes per label (and per group for grouped runs)."""

    outcomes: dict[Label, ClassOutcome]
    output_rows: int
    metrics_source: Literal["observation", "output-scan"]
    group_outcomes: dict[GroupValues, ClassOutcome] | None = None
    group_totals: GroupTotals | None = None
    sweep: SweepPlan | None = None
    factor_results: tuple[FactorResult, ...] = ()
    # Each shown class's rows per batch of the written files in file order (None: not read).
    batches: Mapping[Label, BatchCounts] | None = None
    row_order: RowOrder = "input"


@dataclass(frozen=True)
class RunFacts:
    """Who ran what, where: the report's header."""

    run_id: str
    spark_version: str
    spark_app_id: str
    mode: Literal["error", "overwrite", "append"]
    timings_s: Mapping[str, float]


def build_report(
    *,
    facts: RunFacts,
    source: SourceInfo,
    source_profile: TableProfile,
    write: WriteResult,
    plan: Plan,
    measured: Measured,
    sampling: Sampling,
    source_passes: int,
    advice: tuple[str, ...],
    grouping: Grouping | None = None,
) -> Report:
    """Everything the run did and proved, as the validated report model."""
    outcomes = measured.outcomes
    level = measured.sweep.check_level if measured.sweep else CHECK_LEVEL
    # Each stratum's class is sampled with its own fraction: checked on its own binomial.
    within_bound = counts_within_bound(measured.group_outcomes or outcomes, level)
    bias_check = check_prediction_bias(outcomes, level)
    no_class_lost = all(o.rows_after > 0 for o in outcomes.values() if o.rows_before > 0)
    sweep = _sweep_section(measured.sweep, measured.factor_results) if measured.sweep else None
    sweep_passed = sweep is None or all(f.checks_passed for f in sweep.factors)
    return Report(
        run_id=facts.run_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rebalance_version=versions.VERSION,
        spark_version=facts.spark_version,
        spark_app_id=facts.spark_app_id,
        source=SourceSection(
            name=source.name,
            format=source.format,
            delta_version=source.delta_version,
            size_bytes=source.size_bytes,
            rows=source_profile.rows,
            null_label_rows_dropped=source_profile.null_label_rows,
            appended_after_version=source.appended_after_version,
        ),
        output=OutputSection(
            path=str(write.table),
            mode=facts.mode,
            delta_version=write.delta_version,
            rows=measured.output_rows,
            metrics_source=measured.metrics_source,
        ),
        request=RequestSection(
            said=plan.request.describe(),
            form=plan.request.form,
            seed=sampling.seed,
            sampler=sampling.method,
            sample_key=list(sampling.key),
            source_passes=source_passes,  # type: ignore[arg-type]  # 1, 2 or 3 by construction
            exact=sampling.exact,
            weight_basis=sampling.weight_basis,
            batch_size=plan.batch_size,
        ),
        factor=plan.factor,
        classes=_class_sections(plan, outcomes),
        counts_within_bound=within_bound,
        bias_check=bias_check,
        checks_passed=within_bound and bias_check.passed and no_class_lost and sweep_passed,
        batch=_batch_section(plan, outcomes, measured),
        advice=[*advice, *_order_advice(measured)],
        timings_s=dict(facts.timings_s),
        strata=_strata_section(grouping, measured.group_outcomes) if grouping else None,
        splits=_split_section(grouping, measured.group_totals) if grouping else None,
        calibration=[
            CalibrationSection(**entry) for entry in calibration_table(plan.weight_multipliers)
        ],
        sweep=sweep,
    )


def _order_advice(measured: Measured) -> list[str]:
    """What to do when batches read in file order are clearly worse than random ones."""
    worse = unevenly_spread(measured.batches)
    if not worse:
        return []
    cause = (
        "the rows kept the input's order: write with the shuffled row order (the default)"
        if measured.row_order == "input"
        else "the output's partitioning or clustering groups the classes: leave the label "
        "out of the layout"
    )
    return [
        f"Batches read in file order hold class(es) {', '.join(worse)} far less evenly than "
        f"random batches would, which a streaming loader's shuffle buffer cannot undo; {cause}."
    ]


def _sweep_section(sweep: SweepPlan, results: tuple[FactorResult, ...]) -> SweepSection:
    """Each factor of the sweep as selected from the table, and which one to train with."""
    return SweepSection(
        draw_column=DRAW_COLUMN,
        factors=[
            FactorSection(
                factor=result.factor,
                expected_rows_after=result.plan.expected_rows_after,
                rows_after=result.rows_after,
                minority_rows_after=result.minority_rows_after,
                minority_per_batch_after=result.minority_per_batch,
                counts_within_bound=result.counts_within_bound,
                bias_check=result.bias_check,
                checks_passed=result.passed,
            )
            for result in results
        ],
        advice=list(sweep.advice()),
    )


def _class_sections(plan: Plan, outcomes: Mapping[Label, ClassOutcome]) -> list[ClassSection]:
    """Per-class rows before/after, deviation in sigmas and weighted totals."""
    return [
        ClassSection(
            label=c.label,
            rows_before=c.rows_before,
            factor=c.factor,
            keep_fraction=c.keep_fraction,
            weight_multiplier=c.weight_multiplier,
            expected_rows_after=c.expected_rows_after,
            rows_after=outcomes[c.label].rows_after,
            deviation_sigmas=outcomes[c.label].deviation_sigmas,
            weighted_total_before=outcomes[c.label].weight_before,
            weighted_total_after=outcomes[c.label].weight_after,
        )
        for c in plan.classes
    ]


def _batch_section(
    plan: Plan, outcomes: Mapping[Label, ClassOutcome], measured: Measured
) -> BatchSection:
    """Minority rows per batch and degree, before and as actually written; and each shown
    class per batch as read in file order, against a random order."""
    rows_after = sum(o.rows_after for o in outcomes.values())
    minority_after = outcomes[plan.minority_label].rows_after
    largest_after = max(o.rows_after for o in outcomes.values())
    return BatchSection(
        batch_size=plan.batch_size,
        minority_label=plan.minority_label,
        minority_per_batch_before=plan.minority_per_batch_before,
        minority_per_batch_after=rows_per_batch(minority_after, rows_after, plan.batch_size),
        degree_before=degree_of_imbalance(plan.minority_share_before),
        degree_after=degree_of_imbalance(minority_after / rows_after),
        ratio_before=plan.ratio_before,
        ratio_after=largest_after / minority_after,
        row_order=measured.row_order,
        file_order=[
            FileOrderSection(
                label=counts.label,
                batches=counts.batches,
                mean=counts.mean,
                p5=counts.quantile(0.05),
                p50=counts.quantile(0.5),
                p95=counts.quantile(0.95),
                share_without=counts.share_without,
                random_share_without=counts.random_share_without,
                variance=counts.variance,
                random_variance=counts.random_variance,
                worse_than_random=counts.worse_than_random,
            )
            for counts in (measured.batches or {}).values()
        ],
    )


def _strata_section(
    grouping: Grouping, per_group: Mapping[GroupValues, ClassOutcome] | None
) -> StrataSection | None:
    """The largest groups of the training split, and the rest summed."""
    columns = grouping.plan.strata_columns
    if not columns or per_group is None:
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
                    name: shown(value)
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


def _split_section(grouping: Grouping, totals: GroupTotals | None) -> SplitSection | None:
    """Rows before and after per value of the split column."""
    if grouping.split_column is None or totals is None:
        return None
    before: dict[object, int] = {}
    after: dict[object, int] = {}
    for key, stats in grouping.profile.groups.items():
        before[key[0]] = before.get(key[0], 0) + stats.rows
    for key, (rows, _) in totals.items():
        after[key[0]] = after.get(key[0], 0) + rows
    return SplitSection(
        column=grouping.split_column,
        train_value=str(grouping.train_value),
        splits=[
            SplitRow(
                value=shown(value),
                rows_before=rows,
                rows_after=after.get(value, 0),
                rebalanced=value == grouping.train_value,
            )
            for value, rows in sorted(
                before.items(), key=lambda item: (item[0] is None, str(item[0]))
            )
        ],
    )
