"""Sample and weight the planned rows, then write them: Delta commit, measure, report."""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Observation, SparkSession

from rebalance_lib.core.batches import BatchCounts, batch_counts, order_placement, unevenly_spread
from rebalance_lib.core.checks import ClassOutcome, with_kept_key_sizes
from rebalance_lib.core.counts import GroupValues
from rebalance_lib.core.faults import fault_point
from rebalance_lib.core.grouping import GroupTotals
from rebalance_lib.core.options import OutputPartition, RunOptions, TableLayout
from rebalance_lib.core.plan import Plan
from rebalance_lib.core.sweep import DRAW_COLUMN, METADATA_KEY, factor_results
from rebalance_lib.core.tables import Table
from rebalance_lib.core.targets import Label
from rebalance_lib.report.build import Measured, RunFacts, build_report
from rebalance_lib.report.files import read_report_json, write_report_files
from rebalance_lib.report.model import Report
from rebalance_lib.runs.opening import Opened
from rebalance_lib.runs.timer import PhaseTimer
from rebalance_lib.storage import delta_sql, lineage
from rebalance_lib.storage.delta_sql import table_ref
from rebalance_lib.storage.sink import (
    WriteResult,
    after_taking_back,
    finish_table,
    remove_output,
    transaction_version,
    write_delta,
)
from rebalance_lib.transforms.batches import batch_histograms, file_batch_histograms, in_batch_order
from rebalance_lib.transforms.exact import find_thresholds, keep_exact
from rebalance_lib.transforms.measure import (
    ClassTotals,
    observe_class_totals,
    observed_class_totals,
    scanned_group_totals,
    scanned_key_sizes,
)
from rebalance_lib.transforms.profile import row_check_failure
from rebalance_lib.transforms.sample import drop_null_labels, sample_groups, with_group_weight
from rebalance_lib.transforms.sweep import (
    observe_sweep_totals,
    observed_sweep_totals,
    sweep_totals,
)

log = logging.getLogger(__name__)

Mode = Literal["error", "overwrite", "append"]


@dataclass(frozen=True)
class Written:
    """What ``Rebalanced.write`` committed.

    ``skipped_as_repeat`` is True when the run id's data commit was already there (this call
    wrote no data); ``report`` is then None unless this call finished what an earlier
    attempt left undone.
    """

    path: str
    delta_version: int  # the data commit
    previous_version: int | None
    skipped_as_repeat: bool
    table_version: int  # the table's version after the run, lineage properties included
    plan: Plan  # with the counts a one-pass run learns while writing
    report_dir: str | None
    report: Report | None


@dataclass(frozen=True)
class WriteRequest:
    """What one ``Rebalanced.write`` asks for, settled once at the API: where, how, and what
    an earlier attempt of the same run id already committed."""

    output: Table
    mode: Mode
    run_id: str
    report_dir: str | None
    layout: TableLayout
    incremental: bool = False
    # Every row set into this partition; an overwrite then replaces only that partition.
    into_partition: OutputPartition | None = None
    # This run id's data commit from an earlier attempt: nothing is written again.
    committed: dict[str, Any] | None = None
    # The Delta version of this run id's earlier, finished commit that this write redoes from
    # a newer source version (its rows replaced per the mode).
    redoes: int | None = None


def rebalanced_rows(opened: Opened, options: RunOptions, timer: PhaseTimer) -> DataFrame:
    """The planned rows sampled per group and weighted: Spark SQL expressions only.

    Lazy, except that exact counts first find each group's cut in one pass over the key.
    """
    sampling, label_col = options.sampling, options.label_col
    groups = opened.sample_groups(label_col)
    kept_df = opened.rows_df.transform(drop_null_labels, label_col)
    if sampling.exact:
        kind = ("class", "classes") if len(groups.columns) == 1 else ("group", "groups")
        downsampled = sum(1 for fraction in groups.keep_fractions.values() if fraction < 1)
        cut = f"{downsampled:,} downsampled {kind[downsampled != 1]}"
        with timer.phase(
            "exact",
            "found the exact cut of each downsampled group",
            job=f"exact cut for {cut} of {opened.source.subject}",
        ):
            thresholds = find_thresholds(
                kept_df,
                groups.columns,
                groups.keep_fractions,
                groups.rows,
                sampling.seed,
                sampling.key,
            )
        sampled_df = keep_exact(kept_df, groups.columns, thresholds, sampling.seed, sampling.key)
    else:
        sweep = opened.sweep
        sampled_df = sample_groups(
            kept_df,
            groups.columns,
            groups.keep_fractions,
            sampling.method,
            sampling.seed,
            sampling.key,
            keep_draw_as=DRAW_COLUMN if sweep else None,
            draw_metadata={METADATA_KEY: sweep.to_metadata()} if sweep else None,
        )
    return sampled_df.transform(
        with_group_weight,
        groups.columns,
        groups.weight_multipliers,
        options.weight_col,
        options.input_weight_col,
    )


def write_rebalanced(
    rows_df: DataFrame,
    *,
    opened: Opened,
    options: RunOptions,
    request: WriteRequest,
    timer: PhaseTimer,
) -> Written:
    """Write ``rows_df`` as one Delta commit with its lineage, measure it, write the report.

    With ``request.committed`` (this run id's data commit from an earlier attempt) nothing
    is written again, and what that attempt left undone (table properties, report) is
    finished. ``request.into_partition`` sets its columns on every row; an overwrite then
    replaces only that partition, and the output's read-backs see only it.
    """
    output, mode, run_id = request.output, request.mode, request.run_id
    report_dir, layout, committed = request.report_dir, request.layout, request.committed
    into_partition = request.into_partition
    spark = rows_df.sparkSession
    rows_where = into_partition.predicate if into_partition is not None else None
    report_subfolder = into_partition.folder if into_partition is not None else ""
    if into_partition is not None:
        rows_df = rows_df.withColumns(
            {column: F.lit(value) for column, value in into_partition.values}
        )
    labels = [c.label for c in opened.plan.classes]
    weight_col, label_col = options.weight_col, options.label_col
    sampling = options.sampling
    placed = ""
    if options.row_order == "shuffled":
        _warn_of_label_layout(layout, label_col)
        placement = order_placement(
            opened.profile.task_spread, partitioned=bool(layout.partition_by)
        )
        rows_df = rows_df.transform(
            in_batch_order,
            sampling.seed,
            layout.partition_by,
            tasks=placement.tasks,
            in_place=placement.in_place,
        )
        placed = f"; rows {placement.described}"
    observed_df, observation = observe_class_totals(rows_df, labels, label_col, weight_col)
    sweep_observation = None
    if opened.sweep is not None:
        observed_df, sweep_observation = observe_sweep_totals(
            observed_df, DRAW_COLUMN, opened.sweep
        )
    run_lineage = lineage.run_lineage(
        opened.plan,
        opened.source,
        run_id,
        seed=sampling.seed,
        sampler=sampling.method,
        sample_key=list(sampling.key),
        label_column=label_col,
        weight_column=weight_col,
        grouped=options.is_grouped,
        exact=sampling.exact,
        incremental=request.incremental,
        sweep_factors=list(options.sweep_factors),
        redoes=request.redoes,
    )
    if committed is None:
        with timer.phase(
            "sample_write",
            f"sampled and wrote {output}",
            job=f"sample and write {output} ({options.request.brief()})",
        ) as note:
            write = _write_checked(
                observed_df,
                request,
                run_lineage=run_lineage,
                rows_where=rows_where,
                source_version=opened.source.delta_version,
            )
            note.found = f"Delta version {write.delta_version}{placed}"
    else:
        write = replace(_earlier_attempt(spark, output, committed), rows_where=rows_where)
    fault_point("after-properties")
    if write.skipped_as_repeat:
        if run_finished(
            spark,
            output,
            run_id,
            report_dir=request.report_dir,
            into_partition=into_partition,
        ):
            log.info("run id %s was already written to %s: nothing appended", run_id, output)
            return Written(
                path=str(output),
                delta_version=write.delta_version,
                previous_version=write.previous_version,
                skipped_as_repeat=True,
                table_version=write.table_version,
                plan=opened.plan,
                report_dir=None,
                report=None,
            )
        log.info("run id %s committed its data before: finishing its lineage and report", run_id)
        earlier = committed or run_lineage
        if not _properties_name(spark, output, run_id, earlier["source_version"]):
            properties = lineage.table_properties(earlier)
            finish_table(spark, output, properties, layout.cluster_by)
            table_version = delta_sql.latest_version(spark, table_ref(output))
            write = replace(write, table_version=table_version)
    appended = mode == "append"
    class_totals = None
    if opened.grouping is None:
        class_totals = _class_totals(
            spark,
            write,
            observation=observation,
            labels=labels,
            options=options,
            appended=appended,
            timer=timer,
        )
    opened = opened.counting.settle(opened, write, class_totals[0] if class_totals else None, timer)
    measured = _measure(
        spark,
        write,
        opened=opened,
        class_totals=class_totals,
        weight_col=weight_col,
        appended=appended,
        timer=timer,
        label_col=label_col,
        whole_keys=sampling.whole_keys,
    )
    if opened.sweep is not None:
        totals = observed_sweep_totals(sweep_observation, opened.sweep, not write.skipped_as_repeat)
        if totals is None:
            with timer.phase(
                "sweep",
                "read back each factor's rows from the output",
                job=f"read back {output} for each factor's rows",
            ):
                output_df = _written_rows(spark, write, write.delta_version)
                totals = sweep_totals(output_df, DRAW_COLUMN, opened.sweep)
        # The table is the smallest factor's sample: its kept keys' sizes serve every factor.
        key_rows = {label: outcome.key_rows for label, outcome in measured.outcomes.items()}
        results = factor_results(opened.sweep, opened.profile.classes, totals, key_rows)
        measured = replace(measured, sweep=opened.sweep, factor_results=tuple(results))
    with timer.phase(
        "batches",
        "counted each class per batch of the output in file order",
        job=f"count each class per batch of {opened.plan.batch_size} of {output} in file order",
    ):
        batches = _batches_in_file_order(
            spark, write, plan=opened.plan, measured=measured, label_col=label_col
        )
    measured = replace(measured, batches=batches, row_order=options.row_order)
    worse = unevenly_spread(batches)
    if worse:
        log.warning(
            "batches of %d consecutive rows in file order spread class(es) %s more than a "
            "random order would: a streaming loader's batches will too (see the report)",
            opened.plan.batch_size,
            ", ".join(worse),
        )
    facts = RunFacts(
        run_id=run_id,
        spark_version=spark.version,
        spark_app_id=spark.conf.get("spark.app.id") or "",
        mode=mode,
        timings_s=timer.seconds,
    )
    report = build_report(
        facts=facts,
        source=opened.source,
        source_profile=opened.profile,
        write=write,
        plan=opened.plan,
        measured=measured,
        sampling=sampling,
        source_passes=opened.counting.source_passes,
        advice=opened.advice,
        grouping=opened.grouping,
    )
    report_dir = write_report_files(
        spark, report, output=output, report_dir=report_dir, subfolder=report_subfolder
    )
    return Written(
        path=str(output),
        delta_version=write.delta_version,
        previous_version=write.previous_version,
        # True when an earlier attempt made the data commit
        skipped_as_repeat=write.skipped_as_repeat,
        table_version=write.table_version,
        plan=opened.plan,
        report_dir=report_dir,
        report=report,
    )


def _warn_of_label_layout(layout: TableLayout, label_col: str) -> None:
    """A layout by the label puts each class in files of its own, whatever the rows' order."""
    for setting, columns in (
        ("partitioned", layout.partition_by),
        ("clustered", layout.cluster_by),
    ):
        if label_col in columns:
            log.warning(
                "the output is %s by the label '%s': each file holds one class, so batches "
                "read in file order do too; leave the label out of the output's layout",
                setting,
                label_col,
            )


def _batches_in_file_order(
    spark: SparkSession, write: WriteResult, *, plan: Plan, measured: Measured, label_col: str
) -> dict[Label, BatchCounts] | None:
    """Each shown class's rows per batch of this write's files, read in the commit's order
    (None where the commit is not a file in the table's log)."""
    files = delta_sql.commit_added_files(spark, write.table, write.delta_version)
    if not files:
        return None
    labels = plan.shown_labels
    if delta_sql.rows_readable_from_files(spark, write.table, files, label_col):
        histograms, table_rows = file_batch_histograms(
            spark, files, label_col, labels, plan.batch_size
        )
    else:
        version_df = delta_sql.read_version(spark, write.table, write.delta_version)
        histograms, table_rows = batch_histograms(
            version_df, [f.name for f in files], label_col, labels, plan.batch_size
        )
    class_rows = {label: measured.outcomes[label].rows_after for label in labels}
    return batch_counts(histograms, class_rows, table_rows, plan.batch_size)


def _earlier_attempt(spark: SparkSession, output: Table, committed: dict[str, Any]) -> WriteResult:
    """The write an earlier attempt of this run committed, as if it had just been made."""
    version = int(committed["version"])
    return WriteResult(
        table=output,
        previous_version=version - 1 if version > 0 else None,
        delta_version=version,
        skipped_as_repeat=True,
        table_version=delta_sql.latest_version(spark, table_ref(output)),
    )


def run_finished(
    spark: SparkSession,
    output: Table,
    run_id: str,
    *,
    report_dir: str | None,
    into_partition: OutputPartition | None,
) -> bool:
    """Whether run ``run_id``'s newest commit to ``output`` has its lineage properties and
    its report in place (or a later run has written since, whose lineage and report stand).
    A run redone from a newer source version has the earlier commit's report until its own
    is written: the report must name the commit."""
    history = lineage.rebalance_history(spark, output)
    if history and history[0]["run_id"] != run_id:
        return True
    if not history or not _properties_name(spark, output, run_id, history[0]["source_version"]):
        return False
    subfolder = into_partition.folder if into_partition is not None else ""
    report_json = read_report_json(spark, output, report_dir, subfolder)
    if report_json is None:
        return False
    report = json.loads(report_json)
    names_it = (report.get("run_id"), report["output"]["delta_version"])
    return names_it == (run_id, history[0]["version"])


def _properties_name(
    spark: SparkSession, output: Table, run_id: str, source_version: object
) -> bool:
    """Whether the table's lineage properties are those of ``run_id`` from
    ``source_version`` (a run redone from a newer version has the earlier ones until its
    own are set)."""
    detail = delta_sql.table_detail(spark, output)
    properties = {} if detail is None else detail.properties
    return properties.get("rebalance.runId") == run_id and properties.get(
        "rebalance.sourceVersion"
    ) == str(source_version)


def _write_checked(
    df: DataFrame,
    request: WriteRequest,
    *,
    run_lineage: dict[str, object],
    rows_where: str | None,
    source_version: int | None,
) -> WriteResult:
    """Write the output; a failed row check inside the write becomes a one-line input error,
    and the files the aborted write left in a path that held no table are removed."""
    output, layout = request.output, request.layout
    table_existed = delta_sql.is_delta(df.sparkSession, output)
    try:
        return write_delta(
            df,
            output,
            mode=request.mode,
            run_id=request.run_id,
            txn_version=transaction_version(source_version),
            user_metadata=json.dumps(run_lineage),
            table_properties=lineage.table_properties(run_lineage),
            partition_by=layout.partition_by,
            cluster_by=layout.cluster_by,
            replace_where=rows_where,
        )
    except Exception as error:  # a task's failure: py4j's error on a classic session
        failure = row_check_failure(error)
        if failure is None:
            raise
        if not table_existed:
            failure = after_taking_back(failure, lambda: remove_output(df.sparkSession, output))
        raise failure from None


def _class_totals(
    spark: SparkSession,
    write: WriteResult,
    *,
    observation: Observation | None,
    labels: list[Label],
    options: RunOptions,
    appended: bool,
    timer: PhaseTimer,
) -> tuple[ClassTotals, Literal["observation", "output-scan"]]:
    """This write's rows and weight per class, and where they came from: observed during the
    write, or (when the writer did not report them) read back from the output."""
    observed = observed_class_totals(observation, labels, not write.skipped_as_repeat)
    if observed is not None:
        return observed, "observation"
    with timer.phase(
        "measure",
        "read back the output's label and weight columns",
        job=f"read back {write.table} for the report",
    ):
        totals = _written_totals(
            spark,
            write,
            group_cols=[options.label_col],
            weight_col=options.weight_col,
            appended=appended,
        )
    return {key[0]: value for key, value in totals.items()}, "output-scan"


def _measure(
    spark: SparkSession,
    write: WriteResult,
    *,
    opened: Opened,
    class_totals: tuple[ClassTotals, Literal["observation", "output-scan"]] | None,
    weight_col: str,
    appended: bool,
    timer: PhaseTimer,
    label_col: str,
    whole_keys: tuple[str, ...],
) -> Measured:
    """The write's outcomes per label (and per group); with ``whole_keys``, their variance
    from the kept keys' sizes, read back from the output."""

    def key_sizes(group_cols: list[str]) -> dict[GroupValues, int] | None:
        if not whole_keys:
            return None
        with timer.phase(
            "keys",
            "read back the output's groups and sample keys",
            job=f"read back {write.table}'s sample keys for the report",
        ):
            return _written_key_sizes(
                spark, write, group_cols=group_cols, key_cols=whole_keys, appended=appended
            )

    grouping = opened.grouping
    if grouping is not None:
        with timer.phase(
            "measure",
            "read back the output's group columns and weights",
            job=f"read back {write.table} for the report",
        ):
            totals = _written_totals(
                spark,
                write,
                group_cols=list(grouping.columns),
                weight_col=weight_col,
                appended=appended,
            )
        per_group, per_label = grouping.outcomes(totals, key_sizes(list(grouping.columns)))
        return Measured(
            outcomes=per_label,
            output_rows=sum(rows for rows, _ in totals.values()),
            metrics_source="output-scan",
            group_outcomes=per_group,
            group_totals=totals,
        )
    assert class_totals is not None  # measured above for every run planned per label
    totals_by_class, metrics_source = class_totals
    profile = opened.profile
    outcomes = {
        c.label: ClassOutcome(
            rows_before=c.rows_before,
            weight_before=profile.classes[c.label].weight_sum,
            weight_sq_before=profile.classes[c.label].weight_sq_sum,
            factor=c.factor,
            rows_after=totals_by_class.get(c.label, (0, 0.0))[0],
            weight_after=totals_by_class.get(c.label, (0, 0.0))[1],
        )
        for c in opened.plan.classes
    }
    kept_key_sizes = key_sizes([label_col])
    if kept_key_sizes is not None:
        outcomes = {
            label: with_kept_key_sizes(outcome, kept_key_sizes.get((label,), 0))
            for label, outcome in outcomes.items()
        }
    return Measured(outcomes, sum(o.rows_after for o in outcomes.values()), metrics_source)


def _written_rows(spark: SparkSession, write: WriteResult, version: int) -> DataFrame:
    """The output at ``version``, only the rows this write owns (its partition, if one)."""
    version_df = delta_sql.read_version(spark, write.table, version)
    return version_df if write.rows_where is None else version_df.filter(write.rows_where)


def _written_totals(
    spark: SparkSession,
    write: WriteResult,
    *,
    group_cols: list[str],
    weight_col: str,
    appended: bool,
) -> GroupTotals:
    """This write's totals per group, read back; for an append, the table's growth."""
    return _written_growth(
        spark,
        write,
        appended=appended,
        scan=lambda rows_df: scanned_group_totals(rows_df, group_cols, weight_col),
        less=lambda after, before: (after[0] - before[0], after[1] - before[1]),
        zero=(0, 0.0),
    )


def _written_key_sizes(
    spark: SparkSession,
    write: WriteResult,
    *,
    group_cols: list[str],
    key_cols: tuple[str, ...],
    appended: bool,
) -> dict[GroupValues, int]:
    """This write's kept keys' rows squared and summed per group; for an append, the growth
    of that sum, which a key the table held before can only make larger (a wider bound)."""
    return _written_growth(
        spark,
        write,
        appended=appended,
        scan=lambda rows_df: scanned_key_sizes(rows_df, group_cols, key_cols),
        less=operator.sub,
        zero=0,
    )


_Value = TypeVar("_Value")


def _written_growth(
    spark: SparkSession,
    write: WriteResult,
    *,
    appended: bool,
    scan: Callable[[DataFrame], dict[GroupValues, _Value]],
    less: Callable[[_Value, _Value], _Value],
    zero: _Value,
) -> dict[GroupValues, _Value]:
    """``scan`` of the rows this write owns: the output at its version, or for an append,
    ``less`` the scan of the version before."""
    after = scan(_written_rows(spark, write, write.delta_version))
    if write.previous_version is None or not appended:
        return after
    before = scan(_written_rows(spark, write, write.previous_version))
    return {key: less(value, before.get(key, zero)) for key, value in after.items()}
