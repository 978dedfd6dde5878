"""A factor sweep's rows: select one factor, or count every factor, by the kept draw."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Observation

from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.options import MAX_OBSERVED_CLASSES
from rebalance_lib.core.sweep import METADATA_KEY, SweepPlan, SweepTotals
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.lookup import GroupNumbers, fresh_name, with_group_numbers
from rebalance_lib.transforms.measure import observed_metrics
from rebalance_lib.transforms.names import column
from rebalance_lib.transforms.profile import weight_expr
from rebalance_lib.transforms.sample import keep_below, set_group_weight


def sweep_of(df: DataFrame) -> tuple[str, SweepPlan]:
    """The draw column of a sweep's rows and the sweep its metadata describes."""
    for field in df.schema.fields:
        if METADATA_KEY in field.metadata:
            return field.name, SweepPlan.from_metadata(field.metadata[METADATA_KEY])
    raise ConfigError(
        "these rows carry no sweep's draw column: select from the rows (or the table) of a "
        "rebalance with factors",
        fix={"factors": None},
    )


def select_factor(df: DataFrame, factor: float) -> DataFrame:
    """The rows of one factor's sample from a sweep's rows, weighted for that factor.

    Any factor at least the sweep's smallest works, listed or not: the samples are nested.
    The rows and weights are exactly those of a single hash-sampled run at ``factor`` with
    the same seed and key: weight = input weight x the class's factor at F (computed from
    the input weight, never rescaled from the smallest factor's). Works on the lazy rows of
    ``rebalance(..., factors=...)`` and on its Delta table read back (the draw column's
    metadata says how). The result is itself a sweep starting at ``factor``.

    Args:
        df: the rows of a sweep, with its draw column (``rebalance_draw``).
        factor: the factor to select; below the sweep's smallest one is refused.

    Returns:
        The selected rows, every column kept, the weight column set for ``factor``.

    Example:
        >>> sweep = rebalance(events_df, factors=[5, 10, 20], sampler="hash", sample_key="id")
        >>> written = sweep.write(sweep_path)
        >>> sweep_df = spark.read.format("delta").load(sweep_path)
        >>> twenty_df = select_factor(sweep_df, 20)
        >>> twenty_df.groupBy("label").agg(F.sum("weight")).orderBy("label").show()
        +-----+-----------+
        |label|sum(weight)|
        +-----+-----------+
        |    0|   983380.0|
        |    1|     5000.0|
        +-----+-----------+
        <BLANKLINE>
    """
    draw_col, sweep = sweep_of(df)
    groups = sweep.plan_at(factor).sample_groups(sweep.label_column)
    narrowed = {METADATA_KEY: sweep.narrowed_to(factor).to_metadata()}
    selected_df = df.transform(
        keep_below, groups.columns, groups.keep_fractions, draw_col
    ).transform(
        set_group_weight,
        groups.columns,
        groups.weight_multipliers,
        sweep.weight_column,
        sweep.input_weight_column,
    )
    return selected_df.select(
        *[
            column(name).alias(name, metadata=narrowed) if name == draw_col else column(name)
            for name in selected_df.columns
        ]
    )


def observe_sweep_totals(
    df: DataFrame, draw_col: str, sweep: SweepPlan
) -> tuple[DataFrame, Observation | None]:
    """Attach an Observation of ``sweep_totals`` as the sweep's rows are written: per factor
    and class, two aggregates on every row; none above ``MAX_OBSERVED_CLASSES`` classes
    (the caller reads the output back)."""
    if len(sweep.class_rows) > MAX_OBSERVED_CLASSES:
        return df, None
    observation = Observation("rebalance_sweep")
    weight = weight_expr(sweep.input_weight_column)
    metrics = []
    for index, (_, plan) in enumerate(sweep.plans):
        for class_index, c in enumerate(plan.classes):
            inside = (column(sweep.label_column) == F.lit(c.label)) & (
                column(draw_col) < F.lit(c.keep_fraction)
            )
            metrics.append(F.count_if(inside).alias(f"rows_{index}_{class_index}"))
            metrics.append(F.sum(F.when(inside, weight)).alias(f"weight_{index}_{class_index}"))
    return df.observe(observation, *metrics), observation


def observed_sweep_totals(
    observation: Observation | None, sweep: SweepPlan, ran: bool
) -> SweepTotals | None:
    """The observed ``sweep_totals``, or None when not observed or not reported by the writer."""
    metrics = None if observation is None else observed_metrics(observation, ran)
    if metrics is None:
        return None
    return {
        factor: {
            c.label: (
                int(metrics[f"rows_{index}_{class_index}"]),
                float(metrics[f"weight_{index}_{class_index}"] or 0.0),
            )
            for class_index, c in enumerate(plan.classes)
        }
        for index, (factor, plan) in enumerate(sweep.plans)
    }


def sweep_totals(df: DataFrame, draw_col: str, sweep: SweepPlan) -> SweepTotals:
    """Per factor and class: rows of the factor's sample and the sum of their input
    weights, in one aggregation over the label, draw and input weight columns of ``df``."""
    label_col = sweep.label_column
    weight_name = fresh_name(df, "_rebalance_input_weight")
    narrow_df = df.select(
        column(label_col),
        column(draw_col),
        weight_expr(sweep.input_weight_column).alias(weight_name),
    )
    keep_cols = {}
    for index, (factor, plan) in enumerate(sweep.plans):
        name = fresh_name(narrow_df, f"_rebalance_keep_{index}")
        fractions = plan.sample_groups(label_col).keep_fractions
        keep_cols[name] = (factor, GroupNumbers(fractions, 1.0))
    metrics = []
    for index, name in enumerate(keep_cols):
        inside = column(draw_col) < F.col(name)
        metrics.append(F.count_if(inside).alias(f"rows_{index}"))
        metrics.append(F.sum(F.when(inside, F.col(weight_name))).alias(f"weight_{index}"))
    numbers = {name: entry for name, (_, entry) in keep_cols.items()}
    rows = (
        narrow_df.transform(with_group_numbers, [label_col], numbers)
        .groupBy(column(label_col))
        .agg(*metrics)
        .collect()
    )
    totals: dict[float, dict[Label, tuple[int, float]]] = {}
    for index, (factor, _) in enumerate(keep_cols.values()):
        totals[factor] = {
            row[0]: (int(row[f"rows_{index}"]), float(row[f"weight_{index}"] or 0.0))
            for row in rows
        }
    return totals
