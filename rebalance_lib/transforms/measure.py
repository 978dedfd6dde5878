"""Per-class rows and weight sums of the output, gathered while it is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, Observation

from rebalance_lib.core.counts import ClassStats, TableProfile
from rebalance_lib.core.keys import group_key
from rebalance_lib.core.options import MAX_OBSERVED_CLASSES
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.names import column
from rebalance_lib.transforms.profile import weight_expr

ClassTotals = dict[Label, tuple[int, float]]


def observe_class_totals(
    df: DataFrame, labels: Sequence[Label], label_col: str, weight_col: str
) -> tuple[DataFrame, Observation | None]:
    """Attach an Observation that counts rows and sums weights per class as ``df`` flows by;
    none above ``MAX_OBSERVED_CLASSES`` classes (the caller reads the output back)."""
    if len(labels) > MAX_OBSERVED_CLASSES:
        return df, None
    observation = Observation("rebalance_output")
    metrics = []
    for index, label in enumerate(labels):
        in_class = column(label_col) == F.lit(label)
        metrics.append(F.count_if(in_class).alias(f"rows_{index}"))
        metrics.append(F.sum(F.when(in_class, column(weight_col))).alias(f"weight_{index}"))
    return df.observe(observation, *metrics), observation


def observe_source_profile(
    df: DataFrame, labels: Sequence[Label], label_col: str, input_weight_col: str | None
) -> tuple[DataFrame, Observation]:
    """Attach an Observation of the input's class counts and weight sums (for one-pass runs).

    Without an input weight column every weight is 1, so the sums equal the counts and are
    not computed per row.
    """
    observation = Observation("rebalance_source")
    weight = weight_expr(input_weight_col)
    metrics = [F.count_if(column(label_col).isNull()).alias("null_labels")]
    for index, label in enumerate(labels):
        in_class = column(label_col) == F.lit(label)
        metrics.append(F.count_if(in_class).alias(f"rows_{index}"))
        if input_weight_col is not None:
            metrics.append(F.sum(F.when(in_class, weight)).alias(f"weight_{index}"))
            metrics.append(F.sum(F.when(in_class, weight * weight)).alias(f"weight_sq_{index}"))
    return df.observe(observation, *metrics), observation


def observed_profile(
    observation: Observation, labels: Sequence[Label], ran: bool
) -> TableProfile | None:
    """The input's profile as observed during the write (``ran``: the write ran its rows),
    or None when it was not reported."""
    metrics = observed_metrics(observation, ran)
    if metrics is None:
        return None
    classes = {}
    for index, label in enumerate(labels):
        rows = int(metrics[f"rows_{index}"])
        classes[label] = ClassStats(
            rows=rows,
            weight_sum=float(metrics.get(f"weight_{index}", rows) or 0.0),
            weight_sq_sum=float(metrics.get(f"weight_sq_{index}", rows) or 0.0),
        )
    return TableProfile(classes, null_label_rows=int(metrics["null_labels"]), bad_weight_rows=0)


def observed_metrics(observation: Observation, ran: bool) -> dict[str, Any] | None:
    """The metrics of a query that ``ran``. On a classic session ``Observation.get`` blocks
    until they arrive, and a write that committed nothing (a repeat) never sends them, so it
    is not asked then; some writers (DataFrameWriterV2's CREATE) send an empty row.
    """
    if not ran:
        return None
    try:
        metrics = observation.get
    except Exception:  # none came back (Connect), or an empty row (py4j's error, classic)
        return None
    return metrics or None


def observed_class_totals(
    observation: Observation | None, labels: Sequence[Label], ran: bool
) -> ClassTotals | None:
    """The observed output totals (``ran``: the write ran its rows), or None when not observed
    or not reported by the writer."""
    metrics = None if observation is None else observed_metrics(observation, ran)
    if metrics is None:
        return None
    return {
        label: (int(metrics[f"rows_{index}"]), float(metrics[f"weight_{index}"] or 0.0))
        for index, label in enumerate(labels)
    }


def scanned_group_totals(
    output_df: DataFrame, group_cols: Sequence[str], weight_col: str
) -> dict[tuple[Any, ...], tuple[int, float]]:
    """Rows and weight sums per group, reading only those columns of the written output."""
    rows = (
        output_df.groupBy(*[column(name) for name in group_cols])
        .agg(F.count(F.lit(1)).alias("_rows"), F.sum(column(weight_col)).alias("_weight"))
        .collect()
    )
    return {
        group_key(row[name] for name in group_cols): (int(row["_rows"]), float(row["_weight"]))
        for row in rows
    }


def scanned_key_sizes(
    output_df: DataFrame, group_cols: Sequence[str], key_cols: Sequence[str]
) -> dict[tuple[Any, ...], int]:
    """Per group, its kept keys' rows squared and summed, reading only those columns of the
    written output: how much a sample of whole keys varies (``with_kept_key_sizes``)."""
    keys = [name for name in key_cols if name not in group_cols]
    key_rows_df = output_df.groupBy(*[column(name) for name in [*group_cols, *keys]]).agg(
        F.count(F.lit(1)).alias("_key_rows")
    )
    rows = (
        key_rows_df.groupBy(*[column(name) for name in group_cols])
        .agg(F.sum(F.col("_key_rows") * F.col("_key_rows")).alias("_square_sum"))
        .collect()
    )
    return {tuple(row[name] for name in group_cols): int(row["_square_sum"]) for row in rows}
