"""The DataFrame API: ``rebalance(df, ...)`` and ``rebalance_table(spark, source, ...)``.

Both return a :class:`Rebalanced`: the lazy rebalanced DataFrame, the pure plan, and
``write``, which commits the Delta table, its lineage and the report. The command line and
the spark-submit job are thin doors onto these two functions.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Literal, TypedDict, Unpack

from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.arguments import OPTION_TYPES, TABLE_ARGUMENT_TYPES, check_types
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.options import (
    DEFAULT_SEED,
    LABEL_COL,
    WEIGHT_COL,
    NullLabels,
    OutputPartition,
    RowOrder,
    RunOptions,
    Sampler,
    Sampling,
    WeightBasis,
    check_incremental,
    check_one_pass,
    output_layout,
    target_request,
)
from rebalance_lib.core.plan import DEFAULT_BATCH_SIZE, Plan
from rebalance_lib.core.sweep import SweepPlan
from rebalance_lib.core.tables import Table
from rebalance_lib.core.targets import TARGET_FORMS, Label
from rebalance_lib.runs.lineage_backend import lineage_run
from rebalance_lib.runs.lineage_events import RunDatasets
from rebalance_lib.runs.mlflow_run import active_run_id, log_written
from rebalance_lib.runs.opening import (
    Opened,
    check_schema,
    open_increment,
    open_one_pass,
    plan_rows,
)
from rebalance_lib.runs.timer import PhaseTimer
from rebalance_lib.runs.writing import (
    Mode,
    WriteRequest,
    Written,
    rebalanced_rows,
    run_finished,
    write_rebalanced,
)
from rebalance_lib.storage import lineage
from rebalance_lib.storage.failures import named_failures
from rebalance_lib.storage.jobs import described
from rebalance_lib.storage.sink import (
    check_inputs_outside,
    check_not_a_sweep,
    check_output_named,
    check_output_path,
)
from rebalance_lib.storage.source import DATAFRAME_SOURCE, SourceInfo, read_source
from rebalance_lib.transforms.profile import check_batch_rows
from rebalance_lib.transforms.sweep import select_factor

__all__ = [
    "RebalanceOptions",
    "Rebalanced",
    "Written",
    "rebalance",
    "rebalance_table",
    "select_factor",
]

log = logging.getLogger(__name__)


class RebalanceOptions(TypedDict, total=False):
    """The keyword arguments of ``rebalance`` and ``rebalance_table`` (all optional but the
    one target form)."""

    label: str
    factor: float
    target_ratio: float
    target_minority_share: float
    min_minority_per_batch: int
    max_rows: int
    class_targets: Mapping[Label, int]
    class_factors: Mapping[Label, float]
    factors: list[float] | tuple[float, ...]
    seed: int
    minority: Label
    null_labels: NullLabels
    weight_col: str
    input_weight_col: str
    batch_size: int
    strata: list[str] | tuple[str, ...]
    split_col: str
    train_value: Any
    sampler: Sampler
    sample_key: list[str] | tuple[str, ...] | str
    exact: bool
    weight_basis: WeightBasis
    row_order: RowOrder


@dataclass(eq=False, repr=False)
class Rebalanced:
    """A rebalanced input: ``df`` (lazy), ``plan`` (pure), and ``write`` to commit it.

    Nothing is counted until ``plan``, ``df``, ``advice``, ``sweep`` or ``write`` is first
    used: the classes are counted then, once. So ``write`` refuses a bad output (a path
    taken, the input itself, a report folder inside the input) before a row is read, and a
    retry of a run id reads only the source version that run read. ``df`` is built on first
    use; with ``exact=True`` that first use runs the pass that finds each group's cut. For a
    one-pass run ``plan`` is the stated plan (counts 0): the counts come with the write, and
    ``write(...).report`` holds them.

    Example:
        >>> out = rebalance(events_df, label="label", factor=20, seed=7)
        >>> out.plan.expected_rows_after
        54750.0
        >>> out.df.groupBy("label").agg(F.sum("weight")).orderBy("label").show()
        +-----+-----------+
        |label|sum(weight)|
        +-----+-----------+
        |    0|   989300.0|
        |    1|     5000.0|
        +-----+-----------+
        <BLANKLINE>
        >>> out.write(output_path, mode="overwrite").delta_version
        0
    """

    # The input as read (its session, columns and files: no row is read for them) and what
    # it is; ``_count`` counts and plans it, on first use.
    _source_df: DataFrame
    _source: SourceInfo
    _count: Callable[[], Opened]
    _options: RunOptions
    _timer: PhaseTimer
    _incremental_into: str | None = None
    # The same source opened again at a given Delta version, where no version was asked for:
    # a retry reads the version its run id's data commit read (see ``_write``).
    _reopen_at: Callable[..., Rebalanced] | None = None

    def __repr__(self) -> str:
        return f"Rebalanced({self._source.subject})"

    @cached_property
    def _opened(self) -> Opened:
        return self._count()

    @property
    def plan(self) -> Plan:
        """The pure plan: the classes' counts, what each keeps and its weight."""
        return self._opened.plan

    @cached_property
    def df(self) -> DataFrame:
        """The kept rows with the weight column: Spark SQL expressions only, nothing run yet."""
        with named_failures(self._opened.source.name):
            return rebalanced_rows(self._opened, self._options, self._timer)

    @property
    def advice(self) -> tuple[str, ...]:
        """What an expert would say about the plan before a row is written."""
        return self._opened.advice

    @property
    def sweep(self) -> SweepPlan | None:
        """A factor sweep's factors and counts (``plan`` is its smallest factor's); else None."""
        return self._opened.sweep

    def plan_at(self, factor: float) -> Plan:
        """The plan of one factor of a sweep: what ``select_factor(df, factor)`` selects.

        Example:
            >>> out = rebalance(events_df, label="label", factors=[5, 10, 20], sampler="hash",
            ...                 sample_key="id")
            >>> out.plan_at(20).minority_per_batch_after
            11.689497716894977
        """
        if self._opened.sweep is None:
            raise ConfigError(
                "only a sweep plans several factors: rebalance with factors",
                fix={"factors": None},
            )
        return self._opened.sweep.plan_at(factor)

    def write(
        self,
        path: str,
        mode: Mode = "error",
        run_id: str | None = None,
        report_dir: str | None = None,
        partition_by: list[str] | tuple[str, ...] | None = None,
        cluster_by: list[str] | tuple[str, ...] | None = None,
        into_partition: Mapping[str, object] | None = None,
    ) -> Written:
        """Write the rebalanced rows as a Delta table, with lineage and the report.

        The very code ``rebalance run`` uses: one data commit (``userMetadata`` holds the
        plan and run id), ``rebalance.*`` table properties, and ``report.json``,
        ``report.md`` and ``class_counts.svg`` in ``report_dir``.

        Args:
            path: the output Delta path, never the input nor inside it; or ``table:DB.NAME``,
                a Delta table in the session's catalog (created by ``saveAsTable``).
            mode: ``error`` (the path must be new), ``overwrite`` (old versions stay
                readable) or ``append``.
            run_id: idempotence key: a write repeating it commits nothing, whatever the mode,
                and finishes what an earlier attempt left undone (lineage properties,
                report) from the source version that attempt read: a table opened at its
                newest version is opened again at that one (counted only there); one opened at
                a version asked for, or a DataFrame, is taken as given. Once that run has
                finished, a table opened at its newest version that has moved on since (late
                rows) redoes the run from there, replacing what it wrote (its partition with
                ``into_partition``, else the table; an append is refused), in one commit.
                Default: a fresh id.
            report_dir: where the report goes (default ``PATH/_rebalance_report``).
            partition_by: the output's partition columns; ``[]`` writes it unpartitioned.
            cluster_by: the output's liquid clustering columns. With neither given, the
                output is laid out as the Delta input is (partitioned or clustered by the
                same columns; neither for a DataFrame); giving one leaves out the other.
            into_partition: write every row into this partition, e.g. ``{"ds": "2026-11-23"}``
                (new string columns; the table is partitioned by them first). An overwrite
                then replaces that partition only (Delta ``replaceWhere``), so a daily job's
                rerun of one day leaves the other days alone. The report goes to
                ``PATH/_rebalance_report/ds=2026-11-23`` by default.

        Returns:
            A :class:`Written`: the table version committed and the report.

        Example:
            >>> out = rebalance(events_df, label="label", factor=20, seed=7)
            >>> written = out.write(output_path, run_id="2026-11-27")
            >>> written.delta_version, written.report.bias_check.verdict
            (0, 'PASS')
        """
        if mode not in ("error", "overwrite", "append"):
            raise ConfigError(
                f"mode must be error, overwrite or append (got {mode!r})", fix={"mode": None}
            )
        if self._options.sweep_factors and mode == "append":
            raise ConfigError(
                "a sweep's table holds one sample with its own draw column: write it to a new "
                "path or overwrite",
                fix={"mode": "overwrite"},
            )
        if self._incremental_into is not None:
            if path != self._incremental_into:
                raise ConfigError(
                    f"an increment planned for {self._incremental_into} cannot be written to "
                    f"{path}: write it where the earlier runs are",
                    fix={"path": self._incremental_into},
                )
            mode = "append"  # an increment always adds to the earlier runs' table
        partition = None
        if into_partition is not None:
            if self._incremental_into is not None:
                raise ConfigError(
                    "an increment appends to its table as it is: leave out into_partition",
                    fix={"into_partition": None},
                )
            partition = OutputPartition.parse(into_partition)
        source = self._source
        # Jobs outside the phases (the checks, the lineage, the report) still say whose they are.
        with (
            named_failures(source.name, path),
            self._timer.describe(f"write {path} from {source.subject}"),
        ):
            return self._write(
                Table.parse(path),
                mode=mode,
                run_id=run_id,
                report_dir=report_dir,
                partition_by=partition_by,
                cluster_by=cluster_by,
                partition=partition,
            )

    def _write(
        self,
        output: Table,
        *,
        mode: Mode,
        run_id: str | None,
        report_dir: str | None,
        partition_by: list[str] | tuple[str, ...] | None,
        cluster_by: list[str] | tuple[str, ...] | None,
        partition: OutputPartition | None,
    ) -> Written:
        # The output is checked before the input is counted (``_opened``).
        spark = self._source_df.sparkSession
        source = self._source
        check_output_named(output)
        # A retry of a run whose data commit is already there: the output is its own.
        committed = lineage.run_commit(spark, output, run_id) if run_id is not None else None
        first_read = committed["source_version"] if committed is not None else None
        redoes = None
        if (
            self._reopen_at is not None
            and self._incremental_into is None  # an increment's new rows are the next one's
            and run_id is not None
            and committed is not None
            and first_read is not None
            and first_read != source.delta_version
        ):
            if not run_finished(
                spark, output, run_id, report_dir=report_dir, into_partition=partition
            ):
                # Committed, not finished, and the source has moved on since: the report is
                # rebuilt from the version that attempt read, whatever door the retry uses.
                # The arguments were checked and parsed above: handed on as they are.
                return self._reopen_at(version=int(first_read))._write(
                    output,
                    mode=mode,
                    run_id=run_id,
                    report_dir=report_dir,
                    partition_by=partition_by,
                    cluster_by=cluster_by,
                    partition=partition,
                )
            # Finished from an older version (late rows, a cleared task): redone from this
            # one, replacing what the run wrote, in a commit whose lineage names the one it
            # redoes.
            redoes = int(committed["version"])
            if mode == "append":
                raise ConfigError(
                    f"run id {run_id} appended its rows to {output} from source version "
                    f"{first_read}, and the source is at version {source.delta_version} now: "
                    "an append cannot be redone in place; write the new rows under a new run "
                    "id, or write each run into its own partition (into_partition) with "
                    "mode overwrite",
                    fix={"run_id": None},
                )
            log.info(
                "run id %s finished from source version %s; the source is at version %s "
                "now: redoing it from there, replacing what it wrote (Delta version %d)",
                run_id,
                first_read,
                source.delta_version,
                redoes,
            )
            committed, mode = None, "overwrite"
        layout = output_layout(
            source.layout,
            partition_by=partition_by,
            cluster_by=cluster_by,
            columns=self._source_df.columns,
            into_partition=partition,
        )
        check_output_path(
            spark,
            output,
            input_path=source.path,
            mode="append" if committed else mode,
            report_dir=report_dir,
        )
        if mode == "append" and committed is None:
            check_not_a_sweep(spark, output)
        if source.path is None:
            input_files = self._source_df.inputFiles()
            # A table in the catalog is where the catalog puts it, never among the input's files.
            for written_path in (output.path, report_dir):
                if written_path is not None:
                    check_inputs_outside(spark, written_path, input_files)
        request = WriteRequest(
            output=output,
            mode=mode,
            run_id=run_id or uuid.uuid4().hex,
            report_dir=report_dir,
            layout=layout,
            incremental=self._incremental_into is not None,
            into_partition=partition,
            committed=committed,
            redoes=redoes,
        )
        run_id = request.run_id
        events = lineage_run(RunDatasets(source, self._opened.rows_df, output, mode), run_id)
        events.start()
        try:
            written = write_rebalanced(
                self.df,
                opened=self._opened,
                options=self._options,
                request=request,
                timer=self._timer,
            )
        except BaseException as error:
            events.fail(error)
            raise
        events.complete(written, self.df)
        mlflow_run = active_run_id()
        if mlflow_run is not None and written.report is not None:
            with self._timer.describe(f"log {output} to MLflow run {mlflow_run}"):
                log_written(
                    spark,
                    mlflow_run,
                    written.report,
                    table=output.where,
                    table_is_named=output.in_catalog,
                    request=self._options.request,
                    label_col=self._options.label_col,
                    weight_col=self._options.weight_col,
                )
        return written


def rebalance(df: DataFrame, **options: Unpack[RebalanceOptions]) -> Rebalanced:
    """Downsample the majority class(es) of ``df`` and add the weight column.

    The classes are counted in one pass over the label (and group) columns, on the first use
    of ``plan``, ``df`` or ``write`` (the columns it names are checked against the schema at
    once); the rows are then sampled lazily with Spark SQL expressions only. The caller's
    SparkSession is used.

    Args:
        df: any DataFrame: a table, a filtered or joined frame.

    Keyword Args:
        label: the label column (integers, strings or booleans). Default ``label``.
        factor: divide the majority by F; kept rows weigh x F. Or exactly one of
            ``target_ratio`` (R:1), ``target_minority_share`` (0 < S < 0.5),
            ``min_minority_per_batch`` (K rows per batch), ``max_rows`` (N rows),
            ``class_targets`` (rows to keep per named class, ``{0: 100_000, 2: 5_000}``) or
            ``class_factors`` (a factor per named class, ``{0: 20, 2: 5}``); classes not
            named keep all their rows. Or ``factors``: a sweep (hash sampler): ``df`` holds
            the rows of the smallest factor and a ``rebalance_draw`` column;
            ``select_factor(df, F)`` gives any F >= the smallest exactly, as a single run
            at F would.
        seed: the sampler's seed (default 42).
        minority: the class to protect (default the least frequent).
        null_labels: ``error`` (default) or ``drop`` rows with a null label.
        weight_col: the output weight column (default ``weight``).
        input_weight_col: an existing example weight to scale (default weight 1).
        batch_size: the training batch size the advice is given for (default 128).
        strata: plan within each combination of these columns (e.g. ``["country"]``).
        split_col: rebalance only the rows whose ``split_col`` is ``train_value``.
        train_value: the value of ``split_col`` that marks the training rows.
        sampler: ``sampleBy`` (Bernoulli per row, default) or ``hash`` (by ``sample_key``).
        sample_key: key column(s) of the hash sampler (and of ``exact``).
        exact: keep exactly the planned rows of each downsampled group (one more pass).
        weight_basis: ``nominal`` (x F) or ``realized`` (x rows before / kept; needs exact).
        row_order: how ``write`` orders the rows: ``shuffled`` (default: a seeded random
            order across and within files, so any B consecutive rows hold a random share of
            each class) or ``input`` (as they came; a streaming loader's batches then hold
            the input's runs of one class).

    Returns:
        A :class:`Rebalanced` with ``df``, ``plan`` and ``write``.

    Example:
        >>> out = rebalance(events_df, label="is_fraud", factor=20, seed=7)
        >>> out.df.groupBy("is_fraud").agg(F.sum("weight")).orderBy("is_fraud").show()
        +--------+-----------+
        |is_fraud|sum(weight)|
        +--------+-----------+
        |       0|   989300.0|
        |       1|     5000.0|
        +--------+-----------+
        <BLANKLINE>
    """
    run_options = resolve_options(options)
    check_batch_rows(df)
    check_schema(df, run_options)
    timer = PhaseTimer(partial(described, df.sparkSession))

    def count() -> Opened:
        with named_failures(DATAFRAME_SOURCE.name):
            return plan_rows(df, DATAFRAME_SOURCE, run_options, timer)

    return Rebalanced(df, DATAFRAME_SOURCE, count, run_options, timer)


def rebalance_table(
    spark: SparkSession,
    source: str,
    *,
    input_format: Literal["delta", "parquet", "table"] = "delta",
    version: int | None = None,
    one_pass: bool = False,
    classes: list[Label] | tuple[Label, ...] | None = None,
    incremental_into: str | None = None,
    **options: Unpack[RebalanceOptions],
) -> Rebalanced:
    """Rebalance a table by path or name: what needs to know the source, not just its rows.

    A Delta source is pinned to one version for the whole run and the report names it.
    Beyond ``rebalance``'s options, it can read the source once, or decide only the rows
    appended since the last run.

    Args:
        spark: the SparkSession to read with (Delta configured).
        source: a Delta path (default), a Parquet path, or a catalog table name.
        input_format: ``delta``, ``parquet`` or ``table``.
        version: the Delta version to read (default the latest).
        one_pass: read the source once; needs ``factor``, ``minority`` and every class in
            ``classes``. Counts are observed during the write; rows with a label not listed,
            a null label or a bad weight fail the write itself.
        classes: every label value (for ``one_pass``).
        incremental_into: the output of earlier runs (hash sampler): only the rows appended
            to the source since its last run are decided, with that run's factors, and
            ``write`` appends them there.
        **options: every keyword of :func:`rebalance`.

    Raises:
        NothingToDo: (a ``RebalanceError`` whose ``exit_code`` is 0) with
            ``incremental_into`` when the source has no version since the last run: at the
            first use of ``plan``, ``df`` or ``write``, where the appended rows are counted.

    Example:
        >>> out = rebalance_table(spark, source_path, factor=10, one_pass=True,
        ...                       minority=1, classes=[0, 1])
        >>> written = out.write(output_path)
        >>> written.plan.classes[0].rows_before, written.report.bias_check.verdict
        (995000, 'PASS')
    """
    check_types(
        {
            "source": source,
            "input_format": input_format,
            "version": version,
            "one_pass": one_pass,
            "classes": classes,
            "incremental_into": incremental_into,
        },
        TABLE_ARGUMENT_TYPES,
    )
    run_options = resolve_options(options)
    stated_classes = tuple(classes or ())
    if input_format not in ("delta", "parquet", "table"):
        raise ConfigError(
            f"input format must be delta, parquet or table (got {input_format!r})",
            fix={"input_format": None},
        )
    if version is not None and version < 0:
        raise ConfigError(
            f"version must be a whole number >= 0 (got {version!r})", fix={"version": None}
        )
    if incremental_into is not None:
        if one_pass:
            raise ConfigError(
                "an increment reads only the appended rows already: leave out one pass",
                fix={"one_pass": False},
            )
        check_incremental(run_options)
    one_pass_factor = check_one_pass(run_options, stated_classes) if one_pass else None
    timer = PhaseTimer(partial(described, spark))
    with (
        named_failures(source),
        timer.describe(f"plan {source}"),
        timer.phase("open", f"opened {source}", job=f"open {source}") as note,
    ):
        source_df, source_info = read_source(spark, source, input_format, version)
        check_batch_rows(source_df)
        check_schema(source_df, run_options)
        if source_info.delta_version is not None:
            note.found = f"pinned at version {source_info.delta_version}"

    def count() -> Opened:
        with named_failures(source), timer.describe(f"plan {source}"):
            if incremental_into is not None:
                into = Table.parse(incremental_into)
                return open_increment(spark, source_info, run_options, into, timer)
            if one_pass_factor is not None:
                return open_one_pass(
                    source_df, source_info, run_options, one_pass_factor, stated_classes
                )
            return plan_rows(source_df, source_info, run_options, timer)

    reopen_at = None
    if version is None:
        reopen_at = partial(
            rebalance_table,
            spark,
            source,
            input_format=input_format,
            one_pass=one_pass,
            classes=classes,
            incremental_into=incremental_into,
            **options,
        )
    return Rebalanced(
        source_df, source_info, count, run_options, timer, incremental_into, reopen_at
    )


def resolve_options(options: RebalanceOptions) -> RunOptions:
    """The API's keyword arguments, checked together, as the options the run decides with."""
    unknown = sorted(set(options) - set(RebalanceOptions.__annotations__))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}: see rebalance()'s parameters")
    check_types(options, OPTION_TYPES)
    stated = {form: options[form] for form in TARGET_FORMS if form in options}  # type: ignore[literal-required]  # the forms are keys of RebalanceOptions
    request, sweep_factors = target_request(stated, options.get("factors"))
    sample_key = options.get("sample_key", ())
    return RunOptions(
        request=request,
        label_col=options.get("label", LABEL_COL),
        minority=options.get("minority"),
        null_labels=options.get("null_labels", "error"),
        weight_col=options.get("weight_col", WEIGHT_COL),
        input_weight_col=options.get("input_weight_col"),
        batch_size=options.get("batch_size", DEFAULT_BATCH_SIZE),
        strata=tuple(options.get("strata", ())),
        split_col=options.get("split_col"),
        train_value=options.get("train_value", "train"),
        sampling=Sampling(
            method=options.get("sampler", "sampleBy"),
            seed=options.get("seed", DEFAULT_SEED),
            key=(sample_key,) if isinstance(sample_key, str) else tuple(sample_key),
            exact=options.get("exact", False),
            weight_basis=options.get("weight_basis", "nominal"),
        ),
        sweep_factors=sweep_factors,
        row_order=options.get("row_order", "shuffled"),
    )
