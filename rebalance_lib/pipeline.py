"""profile -> plan -> sample -> write -> report, nothing else."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, Observation, SparkSession

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.calibration import calibration_table
from rebalance_lib.core.checks import ClassOutcome, check_prediction_bias, counts_within_bound
from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.plan import Plan, plan_rebalance, with_realized_factors
from rebalance_lib.core.targets import Label
from rebalance_lib.grouped import (
    GroupTotals,
    group_outcomes,
    is_grouped,
    plan_groups,
    split_section,
    strata_section,
)
from rebalance_lib.incremental import open_increment
from rebalance_lib.one_pass import InputCounting, input_profile, open_one_pass, plan_after_write
from rebalance_lib.report.chart import class_counts_png
from rebalance_lib.report.model import (
    CalibrationSection,
    OutputSection,
    Report,
    RequestSection,
    SourceSection,
    SplitSection,
    StrataSection,
    batch_section,
    bias_section,
    class_sections,
    to_markdown,
)
from rebalance_lib.stages import PhaseTimer, Planned, check_profile
from rebalance_lib.storage import fs, lineage
from rebalance_lib.storage.sink import WriteResult, check_output_path, write_delta
from rebalance_lib.storage.source import latest_version, read_source
from rebalance_lib.transforms.exact import find_thresholds, keep_exact
from rebalance_lib.transforms.measure import (
    ClassTotals,
    observe_class_totals,
    observed_class_totals,
    scanned_group_totals,
)
from rebalance_lib.transforms.profile import (
    profile_classes,
    row_check_failure,
)
from rebalance_lib.transforms.sample import drop_null_labels, sample_groups, with_group_weight

log = logging.getLogger(__name__)

CHART_NAME = "class_counts.png"


@dataclass(frozen=True)
class RunResult:
    """What a run did; ``report`` is None when the run id had already been written."""

    plan: Plan | None
    write: WriteResult
    report: Report | None
    report_dir: str | None
    nothing_done: str | None = None  # why nothing was written, when nothing was


def profile_and_plan(spark: SparkSession, config: RebalanceConfig, timer: PhaseTimer) -> Planned:
    """Open the input, count its classes in one pass, and plan (pure Python)."""
    check_options(config)
    request = config.target.to_request()
    with timer.phase("open", "opening the input and pinning its version"):
        source_df, source = read_source(spark, config.input)
    if is_grouped(config):
        with timer.phase("profile", f"counting rows per group in {source.name}"):
            grouping = plan_groups(source_df, config, source.size_bytes)
        check_profile(grouping.profile.table(), config)
        profile = grouping.profile.table(include=grouping.is_train)
        return Planned(source_df, source, profile, grouping.plan.combined(), grouping)
    with timer.phase("profile", f"counting classes of '{config.label.column}' in {source.name}"):
        profile = profile_classes(source_df, config.label.column, config.weight.input_column)
    check_profile(profile, config)
    plan = plan_rebalance(
        profile.class_counts,
        request,
        batch_size=config.batch_size,
        minority=config.label.minority,
        input_size_bytes=source.size_bytes,
    )
    if config.weight.basis == "realized":
        plan = with_realized_factors(plan)
    return Planned(source_df, source, profile, plan)


def run(spark: SparkSession, config: RebalanceConfig) -> RunResult:
    """Rebalance the configured input into a Delta table and write its report."""
    timer = PhaseTimer()
    output_path = config.output.path
    input_path = config.input.source if config.input.format != "table" else None
    check_options(config)
    if config.output.incremental:  # an increment always adds to the earlier runs' table
        config = config.model_copy(
            update={"output": config.output.model_copy(update={"mode": "append"})}
        )
    check_output_path(spark, output_path, input_path, config.output.mode)
    assert output_path is not None
    planned, input_counting = _open(spark, config, timer)
    if isinstance(planned, str):  # an increment with nothing new
        current = latest_version(DeltaTable.forPath(spark, output_path))
        unchanged = WriteResult(output_path, current, current, skipped_as_repeat=True)
        return RunResult(None, unchanged, None, None, planned)
    plan, run_id = planned.plan, config.output.run_id or uuid.uuid4().hex
    labels = [c.label for c in plan.classes]
    label_col, weight_col = config.label.column, config.weight.column
    rebalanced_df = _rebalanced(planned, config, timer)
    observed_df, observation = observe_class_totals(rebalanced_df, labels, label_col, weight_col)
    run_lineage = lineage.run_lineage(config, plan, planned.source, run_id)
    with timer.phase("sample_write", f"sampling and writing Delta to {output_path}"):
        write = _write_checked(observed_df, config, run_id, run_lineage)
    if write.skipped_as_repeat:
        log.info("run id %s was already written to %s: nothing appended", run_id, output_path)
        return RunResult(
            plan, write, None, None, f"run id {run_id} already written to {write.path}"
        )
    class_totals = None
    if planned.grouping is None:
        class_totals = _class_totals(spark, config, write, observation, labels, timer)
    if input_counting is not None:  # a one-pass run is never grouped: class totals exist
        assert class_totals is not None
        profile = input_profile(input_counting, plan, class_totals[0], config, timer)
        planned = plan_after_write(spark, planned, profile, write)
    measured = _measure(spark, config, planned, write, class_totals, timer)
    report = _build_report(spark, config, planned, write, run_id, measured, timer)
    report_dir = config.output.report_dir or lineage.default_report_dir(output_path)
    write_report_files(spark, report, report_dir)
    return RunResult(planned.plan, write, report, report_dir)


def _open(
    spark: SparkSession, config: RebalanceConfig, timer: PhaseTimer
) -> tuple[Planned | str, InputCounting | None]:
    """Open and plan the input as the config asks: an increment, one pass, or two passes."""
    if config.output.incremental:
        return open_increment(spark, config, timer), None
    if config.sample.one_pass:
        return open_one_pass(spark, config, timer)
    return profile_and_plan(spark, config, timer), None


@dataclass(frozen=True)
class Measured:
    """What this write holds: per-class outcomes, rows, and the per-stratum/split sections."""

    outcomes: dict[Label, ClassOutcome]
    output_rows: int
    metrics_source: str  # observed during the write, or read back from the output
    strata: StrataSection | None = None
    splits: SplitSection | None = None


def _rebalanced(planned: Planned, config: RebalanceConfig, timer: PhaseTimer) -> DataFrame:
    """The input sampled per class (or per group) and weighted: Spark SQL expressions only."""
    plan, grouping, label_col = planned.plan, planned.grouping, config.label.column
    seed, key = config.sample.seed, config.sample.key
    kept_df = planned.source_df.transform(drop_null_labels, label_col)
    if grouping is not None:
        group_cols = grouping.columns
        fractions, multipliers = grouping.keep_fractions, grouping.weight_multipliers
        group_rows = {key: stats.rows for key, stats in grouping.profile.groups.items()}
    else:
        group_cols = [label_col]
        fractions = {(c.label,): c.keep_fraction for c in plan.classes}
        multipliers = {(c.label,): c.weight_multiplier for c in plan.classes}
        group_rows = {(c.label,): c.rows_before for c in plan.classes}
    if config.sample.exact:
        with timer.phase("exact", "finding the exact cut of each downsampled group"):
            thresholds = find_thresholds(kept_df, group_cols, fractions, group_rows, seed, key)
        sampled_df = keep_exact(kept_df, group_cols, thresholds, seed, key)
    else:
        sampled_df = sample_groups(kept_df, group_cols, fractions, config.sample.method, seed, key)
    return sampled_df.transform(
        with_group_weight,
        group_cols,
        multipliers,
        config.weight.column,
        config.weight.input_column,
    )


def check_options(config: RebalanceConfig) -> None:
    """Refuse option combinations that cannot work together, before any data is read."""
    if config.output.incremental and (
        config.sample.method != "hash" or config.sample.one_pass or config.sample.exact
    ):
        raise ConfigError(
            "--incremental needs --sampler hash (a row's decision must not depend on the "
            "rows around it) and cannot be combined with --one-pass or --exact"
        )
    if config.weight.basis == "realized" and not config.sample.exact:
        raise ConfigError(
            "--weight-basis realized needs --exact: only an exact run knows its rows kept "
            "before writing"
        )
    if config.sample.one_pass and config.sample.exact:
        raise ConfigError("--exact needs its own pass over the key: leave out --one-pass")


def _class_totals(
    spark: SparkSession,
    config: RebalanceConfig,
    write: WriteResult,
    observation: Observation,
    labels: list[Label],
    timer: PhaseTimer,
) -> tuple[ClassTotals, str]:
    """This write's rows and weight per class, and where they came from: observed during the
    write, or (when the writer did not report them) read back from the output."""
    observed = observed_class_totals(observation, labels)
    if observed is not None:
        return observed, "observation"
    with timer.phase("measure", "reading back the output's label and weight columns"):
        return _class_totals_read_back(spark, config, write), "output-scan"


def _measure(
    spark: SparkSession,
    config: RebalanceConfig,
    planned: Planned,
    write: WriteResult,
    class_totals: tuple[ClassTotals, str] | None,
    timer: PhaseTimer,
) -> Measured:
    plan, grouping = planned.plan, planned.grouping
    if grouping is not None:
        appended = config.output.mode == "append"
        with timer.phase("measure", "reading back the output's group columns and weights"):
            totals = _written_totals(spark, write, grouping.columns, config.weight.column, appended)
        per_group, per_label = group_outcomes(grouping, totals)
        return Measured(
            outcomes=per_label,
            output_rows=sum(rows for rows, _ in totals.values()),
            metrics_source="output-scan",
            strata=strata_section(grouping, per_group),
            splits=split_section(grouping, totals),
        )
    assert class_totals is not None
    totals_by_class, metrics_source = class_totals
    profile = planned.profile
    outcomes = {
        c.label: ClassOutcome(
            rows_before=c.rows_before,
            weight_before=profile.classes[c.label].weight_sum,
            weight_sq_before=profile.classes[c.label].weight_sq_sum,
            factor=c.factor,
            rows_after=totals_by_class.get(c.label, (0, 0.0))[0],
            weight_after=totals_by_class.get(c.label, (0, 0.0))[1],
        )
        for c in plan.classes
    }
    return Measured(outcomes, sum(o.rows_after for o in outcomes.values()), metrics_source)


def _write_checked(
    df: DataFrame, config: RebalanceConfig, run_id: str, run_lineage: dict[str, Any]
) -> WriteResult:
    """Write the output; a failed row check inside the write becomes a one-line input error,
    and the files the aborted write left in a path that held no table are removed."""
    output_path = config.output.path
    assert output_path is not None
    table_existed = DeltaTable.isDeltaTable(df.sparkSession, output_path)
    try:
        return write_delta(
            df,
            output_path,
            config.output.mode,
            run_id,
            user_metadata=json.dumps(run_lineage),
            table_properties=lineage.table_properties(run_lineage),
        )
    except (PySparkException, Py4JJavaError) as error:
        message = row_check_failure(error)
        if message is None:
            raise
        if not table_existed:
            fs.delete(df.sparkSession, output_path)
        raise InputError(f"{message}; nothing was written") from None


def _class_totals_read_back(
    spark: SparkSession, config: RebalanceConfig, write: WriteResult
) -> ClassTotals:
    appended = config.output.mode == "append"
    group_totals = _written_totals(
        spark, write, [config.label.column], config.weight.column, appended
    )
    return {key[0]: value for key, value in group_totals.items()}


def _written_totals(
    spark: SparkSession, write: WriteResult, group_cols: list[str], weight_col: str, appended: bool
) -> GroupTotals:
    """This write's totals per group, read back; for an append, the table's growth."""

    def totals_at(version: int) -> GroupTotals:
        version_df = spark.read.format("delta").option("versionAsOf", version).load(write.path)
        return scanned_group_totals(version_df, group_cols, weight_col)

    after = totals_at(write.delta_version)
    if write.previous_version is None or not appended:
        return after
    before = totals_at(write.previous_version)
    return {
        key: (rows - before.get(key, (0, 0.0))[0], weight - before.get(key, (0, 0.0))[1])
        for key, (rows, weight) in after.items()
    }


def _build_report(
    spark: SparkSession,
    config: RebalanceConfig,
    planned: Planned,
    write: WriteResult,
    run_id: str,
    measured: Measured,
    timer: PhaseTimer,
) -> Report:
    plan, outcomes = planned.plan, measured.outcomes
    all_rows = planned.grouping.profile.table() if planned.grouping else planned.profile
    return Report(
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rebalance_version=version("rebalance"),
        spark_version=spark.version,
        spark_app_id=spark.sparkContext.applicationId,
        source=SourceSection(
            name=planned.source.name,
            format=planned.source.format,
            delta_version=planned.source.delta_version,
            size_bytes=planned.source.size_bytes,
            rows=all_rows.rows,
            null_label_rows_dropped=all_rows.null_label_rows,
            appended_after_version=planned.source.appended_after_version,
        ),
        output=OutputSection(
            path=write.path,
            mode=config.output.mode,
            delta_version=write.delta_version,
            rows=measured.output_rows,
            metrics_source=measured.metrics_source,  # type: ignore[arg-type]
        ),
        request=RequestSection(
            said=plan.request.describe(),
            form=plan.request.form,
            seed=config.sample.seed,
            sampler=config.sample.method,
            sample_key=config.sample.key,
            source_passes=1 if config.sample.one_pass else 3 if config.sample.exact else 2,
            exact=config.sample.exact,
            weight_basis=config.weight.basis,
            batch_size=plan.batch_size,
        ),
        factor=plan.factor,
        classes=class_sections(plan, outcomes),
        counts_within_bound=counts_within_bound(outcomes),
        bias_check=bias_section(check_prediction_bias(outcomes)),
        batch=batch_section(plan, outcomes),
        advice=list(planned.advice),
        timings_s=dict(timer.seconds),
        strata=measured.strata,
        splits=measured.splits,
        calibration=[
            CalibrationSection(**entry) for entry in calibration_table(plan.weight_multipliers)
        ],
    )


def write_report_files(spark: SparkSession, report: Report, report_dir: str) -> None:
    """report.json, report.md and the class-count chart, written through Hadoop."""
    fs.write_bytes(spark, f"{report_dir}/report.json", report.model_dump_json(indent=2).encode())
    fs.write_bytes(spark, f"{report_dir}/{CHART_NAME}", class_counts_png(report))
    fs.write_bytes(spark, f"{report_dir}/report.md", to_markdown(report, CHART_NAME).encode())
    log.info("report written to %s", report_dir)
