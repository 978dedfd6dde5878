"""The arguments of one rebalance, checked together once. Pure Python.

Every door (the API, the command line, the spark-submit job, YAML) ends here, so each
rule about which options go together lives in this one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.grouping import strata_columns
from rebalance_lib.core.plan import DEFAULT_BATCH_SIZE
from rebalance_lib.core.sweep import sweep_factors
from rebalance_lib.core.targets import Label, TargetRequest

Sampler = Literal["sampleBy", "hash"]
WeightBasis = Literal["nominal", "realized"]
NullLabels = Literal["error", "drop"]
# shuffled: the written rows in a seeded random order (batch-ready); input: as they came.
RowOrder = Literal["shuffled", "input"]

# The defaults every door states (the API, the YAML config, the command line's help, the Spark
# ML estimator), each kept here once; the batch size is the planner's, DEFAULT_BATCH_SIZE in
# core/plan.py.
DEFAULT_SEED = 42
LABEL_COL = "label"
WEIGHT_COL = "weight"


@dataclass(frozen=True)
class Sampling:
    """How rows are drawn: Bernoulli per row (``sampleBy``) or by a seeded hash of a key,
    optionally cut to exactly the planned count per group."""

    method: Sampler = "sampleBy"
    seed: int = DEFAULT_SEED
    key: tuple[str, ...] = ()
    exact: bool = False
    weight_basis: WeightBasis = "nominal"

    def __post_init__(self) -> None:
        _one_of("sampler", self.method, ("sampleBy", "hash"))
        _one_of("weight_basis", self.weight_basis, ("nominal", "realized"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(
                f"seed must be a whole number (got {self.seed!r})", fix={"seed": None}
            )
        if not -(2**63) <= self.seed < 2**63:
            raise ConfigError(
                f"seed must fit in 64 bits, between -2**63 and 2**63 - 1 (got {self.seed})",
                fix={"seed": None},
            )
        if self.method == "hash" and not self.key:
            raise ConfigError(
                "the hash sampler draws from a key: name its column(s)", fix={"sample_key": None}
            )
        if self.weight_basis == "realized" and not self.exact:
            raise ConfigError(
                "realized weights need exact counts: only an exact run knows its rows kept "
                "before writing",
                fix={"exact": True},
            )

    @property
    def whole_keys(self) -> tuple[str, ...]:
        """The key whose rows in a group are kept or dropped together (empty: row by row, or
        cut to exact counts, which leave no count to vary)."""
        return self.key if self.method == "hash" and not self.exact else ()

    @property
    def source_passes(self) -> int:
        """Reads of the source in a two-pass run: profile, write (and the exact cut)."""
        return 3 if self.exact else 2


@dataclass(frozen=True)
class RunOptions:
    """Everything below the doors decides with: what to keep, how, and in which columns."""

    request: TargetRequest
    label_col: str = LABEL_COL
    minority: Label | None = None
    null_labels: NullLabels = "error"
    weight_col: str = WEIGHT_COL
    input_weight_col: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    strata: tuple[str, ...] = ()
    split_col: str | None = None
    train_value: Any = "train"
    sampling: Sampling = field(default_factory=Sampling)
    # A factor sweep: every factor selectable from one sample at the smallest (empty: none).
    sweep_factors: tuple[float, ...] = ()
    row_order: RowOrder = "shuffled"

    def __post_init__(self) -> None:
        _one_of("null_labels", self.null_labels, ("error", "drop"))
        _one_of("row_order", self.row_order, ("shuffled", "input"))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(
                f"batch size must be a whole number (got {self.batch_size!r})",
                fix={"batch_size": None},
            )
        if self.batch_size < 1:
            raise ConfigError(
                f"batch size must be at least 1 (got {self.batch_size})", fix={"batch_size": None}
            )
        for name in ("label_col", "weight_col"):
            if not getattr(self, name):
                raise ConfigError(f"{name.replace('_', ' ')} needs a name", fix={name: None})
        if self.sweep_factors:
            _check_sweep(self)

    @property
    def strata_columns(self) -> tuple[str, ...]:
        return strata_columns(self.strata, self.label_col)

    @property
    def is_grouped(self) -> bool:
        """Planned per group (strata or the training split) rather than per label."""
        return bool(self.strata_columns) or self.split_col is not None


# Rows and weight per class are observed while the output is written, one pair of
# aggregates per class evaluated on every row: cheap for a few classes, a per-row cost that
# grows with the classes beyond. Above this many the output's label and weight columns are
# read back after the write instead, and a one-pass run (which can only observe) is refused.
MAX_OBSERVED_CLASSES = 32


def check_one_pass(options: RunOptions, classes: tuple[Label, ...]) -> float:
    """A one-pass run states its plan: the factor, the minority and every class. Its factor."""
    factor = options.request.factor
    if options.request.per_class is not None:
        raise ConfigError(
            f"{options.request.form.replace('_', ' ')} are planned from the class counts, "
            "which one pass does not have: run in two passes",
            fix={"one_pass": False},
        )
    if options.sweep_factors:
        raise ConfigError(
            "a sweep plans each factor from the class counts: run it in two passes",
            fix={"one_pass": False},
        )
    if factor is None or options.minority is None or len(classes) < 2:
        raise ConfigError(
            "one pass needs a factor, the minority label and every class (e.g. 0,1); "
            "without them run in two passes",
            fix={"factor": None, "minority": None, "classes": None},
        )
    if options.is_grouped:
        raise ConfigError(
            "one pass plans the whole table at once: leave out strata and the split column, "
            "or run in two passes",
            fix={"one_pass": False},
        )
    if options.sampling.exact:
        raise ConfigError(
            "exact counts need their own pass over the key: run in two passes",
            fix={"one_pass": False},
        )
    if len(classes) > MAX_OBSERVED_CLASSES:
        raise ConfigError(
            f"one pass counts each class while writing, at most {MAX_OBSERVED_CLASSES} classes "
            f"(got {len(classes):,}): run in two passes",
            fix={"one_pass": False},
        )
    return factor


@dataclass(frozen=True)
class TableLayout:
    """How a Delta table's files are laid out: partition columns or clustering columns."""

    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputPartition:
    """The partition a run writes into: each column set to one value for every row written.

    A rerun with ``overwrite`` replaces this partition only (Delta's ``replaceWhere``); the
    other partitions of the table stay as they are.
    """

    values: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, values: Mapping[str, object]) -> OutputPartition:
        """From ``{"ds": "2026-11-23"}``; refused in one line when empty or a value is null.

        Example:
            >>> OutputPartition.parse({"ds": "2026-11-23"}).predicate
            "`ds` = '2026-11-23'"
        """
        if not values:
            raise ConfigError(
                "into_partition needs at least one COLUMN=VALUE (e.g. ds=2026-11-23)",
                fix={"into_partition": None},
            )
        for column, value in values.items():
            if not column or value is None or str(value) == "":
                raise ConfigError(
                    f"into_partition needs a column and a value, got {column!r}={value!r}: "
                    "write it as COLUMN=VALUE",
                    fix={"into_partition": None},
                )
        return cls(tuple((column, str(value)) for column, value in values.items()))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.values)

    @property
    def predicate(self) -> str:
        """The Spark SQL condition that selects exactly this partition's rows."""
        return " AND ".join(
            f"{_sql_name(column)} = {_sql_string(value)}" for column, value in self.values
        )

    @property
    def folder(self) -> str:
        """``ds=2026-11-23``: where this partition's report goes, under the table's."""
        return "/".join(
            f"{quote(column, safe='')}={quote(value, safe='')}" for column, value in self.values
        )


def _sql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def output_layout(
    input_layout: TableLayout,
    *,
    partition_by: Sequence[str] | None,
    cluster_by: Sequence[str] | None,
    columns: Sequence[str],
    into_partition: OutputPartition | None = None,
) -> TableLayout:
    """The output's layout: the input's own unless either is stated (then only what is).

    A run into one partition partitions the table by that partition's columns first.

    Example:
        >>> output_layout(
        ...     TableLayout(cluster_by=("day",)), partition_by=None, cluster_by=None,
        ...     columns=["day", "label"],
        ... )
        TableLayout(partition_by=(), cluster_by=('day',))
    """
    if partition_by is None and cluster_by is None:
        layout = input_layout
    else:
        layout = TableLayout(tuple(partition_by or ()), tuple(cluster_by or ()))
    if into_partition is not None:
        if layout.cluster_by:
            raise ConfigError(
                "a run into one partition writes a partitioned table, not a clustered one: "
                "leave out cluster_by (the input's clustering is not kept then)",
                fix={"cluster_by": None},
            )
        taken = [name for name in into_partition.columns if name in columns]
        if taken:
            raise ConfigError(
                f"into_partition column(s) {', '.join(taken)} are already columns of the rows: "
                "name a new column",
                fix={"into_partition": None},
            )
        rest = tuple(name for name in layout.partition_by if name not in into_partition.columns)
        layout = TableLayout(into_partition.columns + rest)
        columns = [*columns, *into_partition.columns]
    if layout.partition_by and layout.cluster_by:
        raise ConfigError(
            "a Delta table is either partitioned or clustered: give partition_by or cluster_by",
            fix={"partition_by": None, "cluster_by": None},
        )
    for setting, names in (
        ("partition_by", layout.partition_by),
        ("cluster_by", layout.cluster_by),
    ):
        missing = [name for name in names if name not in columns]
        if missing:
            kind = "partition" if setting == "partition_by" else "clustering"
            raise ConfigError(
                f"{kind} column(s) {', '.join(missing)} are not columns of the rows",
                fix={setting: None},
            )
    return layout


def target_request(
    stated: Mapping[str, Any], factors: Sequence[float] | None
) -> tuple[TargetRequest, tuple[float, ...]]:
    """The request (from exactly one target form, or a sweep's factors) and the sweep's
    factors (empty for a single run).

    Only factors nest: a target ratio, share, per-batch minimum or row cap is met by one
    factor per class on these counts, not by a list of them.

    Example:
        >>> target_request({}, [20, 5])[1]
        (5.0, 20.0)
    """
    if factors is None:
        return TargetRequest(**stated), ()
    if stated:
        raise ConfigError(
            f"a sweep's factors are its target: leave out {', '.join(stated)} (only factors "
            "give nested samples; sweep the factors the other forms would plan)",
            fix=dict.fromkeys(stated),
        )
    swept = sweep_factors(factors)
    return TargetRequest(factor=swept[0]), swept


def _check_sweep(options: RunOptions) -> None:
    """A sweep keeps one seeded draw per row and selects each factor from it."""
    sampling = options.sampling
    if sampling.method != "hash":
        raise ConfigError(
            "a factor sweep selects every factor from one seeded draw per row, which only the "
            "hash sampler keeps: use the hash sampler with a key",
            fix={"sampler": "hash", "sample_key": None},
        )
    if sampling.exact:
        raise ConfigError(
            "exact counts cut each factor at its own rank, so their samples do not nest: "
            "leave out exact for a sweep",
            fix={"exact": False},
        )
    if options.is_grouped:
        raise ConfigError(
            "a factor sweep plans the whole table per label: leave out strata and the split column",
            fix={"strata": None, "split_col": None},
        )
    if options.input_weight_col == options.weight_col:
        raise ConfigError(
            "a sweep weighs each factor from the input weight, so it must stay in its own "
            f"column: name another output weight column than '{options.weight_col}'",
            fix={"weight_col": None},
        )


def check_incremental(options: RunOptions) -> None:
    """An increment decides new rows alone: each row's fate must depend on its key only."""
    if options.sweep_factors:
        raise ConfigError(
            "an increment appends with the factors of the last run, not a sweep: leave out "
            "the factors",
            fix={"factors": None},
        )
    if options.sampling.method != "hash" or options.sampling.exact:
        raise ConfigError(
            "an increment needs the hash sampler (a row's decision must not depend on the "
            "rows around it) and no exact counts",
            fix={"sampler": "hash", "exact": False},
        )


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{name.replace('_', ' ')} must be one of {', '.join(allowed)} (got {value!r})",
            fix={name: None},
        )
