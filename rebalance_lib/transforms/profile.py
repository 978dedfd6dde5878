"""Class counts (and input-weight sums) from one column-pruned aggregation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import types as T

from rebalance_lib.core.counts import ClassStats, GroupedProfile, TableProfile, TaskSpread
from rebalance_lib.core.errors import InputError
from rebalance_lib.core.keys import canonical, group_key
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.names import column

# What ``_row_stats`` counts, each summed again where groups of rows are merged.
_ROW_STATS = ("rows", "weight_sum", "weight_sq_sum", "bad_weights")

# Float and double labels are taken when every value is a whole number (0.0/1.0).
_LABEL_TYPES = (T.IntegralType, T.StringType, T.BooleanType, T.FloatType, T.DoubleType)


def check_batch_rows(df: DataFrame) -> None:
    """Refuse a streaming DataFrame (rebalance counts, then samples: a batch job) and one with
    two columns of one name (Spark could not tell which is meant), before any Spark job."""
    if df.isStreaming:
        raise InputError(
            "the input is a streaming DataFrame: rebalance counts its classes before it "
            "samples, a batch job; rebalance each micro-batch from foreachBatch instead"
        )
    case_sensitive = df.sparkSession.conf.get("spark.sql.caseSensitive", "false") == "true"
    names = Counter(name if case_sensitive else name.lower() for name in df.columns)
    duplicated = [name for name, times in names.items() if times > 1]
    if duplicated:
        raise InputError(
            f"the input has several columns named {', '.join(duplicated)}: rename or drop "
            "the duplicates first"
        )


def check_columns(
    df: DataFrame,
    label_col: str,
    input_weight_col: str | None,
    group_cols: Sequence[str] = (),
) -> None:
    """Refuse a missing or float-typed label, a missing or non-numeric weight column, or a
    missing group column: from the schema, before a row is read."""
    fields = {field.name: field.dataType for field in df.schema.fields}
    columns = ", ".join(fields)
    if label_col not in fields:
        raise InputError(
            f"label column '{label_col}' not found (columns: {columns})", fix={"label": None}
        )
    if not isinstance(fields[label_col], _LABEL_TYPES):
        raise InputError(
            f"label column '{label_col}' is {fields[label_col].simpleString()}: labels must be "
            "integers, strings, booleans or whole-number doubles; cast it (e.g. to int) "
            "before rebalancing"
        )
    if input_weight_col is not None and input_weight_col not in fields:
        raise InputError(
            f"input weight column '{input_weight_col}' not found (columns: {columns}): "
            "name an existing column, or none for weight 1",
            fix={"input_weight_col": None},
        )
    if input_weight_col is not None and not isinstance(fields[input_weight_col], T.NumericType):
        raise InputError(
            f"input weight column '{input_weight_col}' is "
            f"{fields[input_weight_col].simpleString()}, not numeric: cast it to double"
        )
    missing = [name for name in group_cols if name not in fields]
    if missing:
        raise InputError(
            f"column(s) {', '.join(missing)} not found (columns: {columns})",
            fix={"strata": None, "split_col": None},
        )


def weight_expr(input_weight_col: str | None) -> Column:
    """The input weight as a double column (1.0 when the table has none)."""
    if input_weight_col is None:
        return F.lit(1.0)
    return column(input_weight_col).cast("double")


def is_bad_weight(weight: Column) -> Column:
    """Null, NaN, infinite, zero or negative: a weight no loss function can use."""
    return F.coalesce(
        weight.isNull() | F.isnan(weight) | (F.abs(weight) == float("inf")) | (weight <= 0),
        F.lit(True),
    )


def profile_groups(
    df: DataFrame,
    label_col: str,
    group_cols: Sequence[str] = (),
    input_weight_col: str | None = None,
) -> GroupedProfile:
    """Count rows per (group columns..., label) in one pass reading only those columns.

    Example:
        >>> profile_groups(events_df, "label", ["country"]).groups[("NZ", 1)].rows
        900
    """
    check_columns(df, label_col, input_weight_col, group_cols)
    keys = [column(name).alias(f"_g{index}") for index, name in enumerate(group_cols)]
    key_names = [f"_g{index}" for index in range(len(group_cols))]
    weight = weight_expr(input_weight_col)
    group_rows = (
        df.select(*keys, column(label_col).alias("_label"), weight.alias("_weight"))
        .groupBy(*key_names, "_label")
        .agg(*_row_stats(F.col("_weight")))
        .collect()
    )
    return _grouped_profile(group_rows, key_names, label_col)


def _grouped_profile(rows: list[Row], key_names: Sequence[str], label_col: str) -> GroupedProfile:
    """Collected ``_row_stats`` per (group columns..., ``_label``) as the profile holds them;
    fractional labels refused."""
    _check_whole_labels([row["_label"] for row in rows], label_col)
    return GroupedProfile(
        groups={
            group_key([*[row[name] for name in key_names], row["_label"]]): ClassStats(
                row["rows"], row["weight_sum"], row["weight_sq_sum"]
            )
            for row in rows
            if row["_label"] is not None
        },
        null_label_rows=sum(row["rows"] for row in rows if row["_label"] is None),
        bad_weight_rows=sum(row["bad_weights"] for row in rows),
    )


def _check_whole_labels(labels: list[Label | None], label_col: str) -> None:
    """A float label names a class only when it is a whole number (0.0/1.0)."""
    fractional = sorted(
        {label for label in labels if isinstance(label, float) and not label.is_integer()}, key=str
    )
    if fractional:
        shown = ", ".join(str(label) for label in fractional[:3])
        raise InputError(
            f"label column '{label_col}' holds {len(fractional):,} value(s) that are not whole "
            f"numbers ({shown}): labels name classes; round or bin the column first",
            fix={"label": None},
        )


def profile_classes(
    df: DataFrame, label_col: str, input_weight_col: str | None = None
) -> TableProfile:
    """Count rows per label value in one pass that reads only the label (and weight) column,
    and how the classes spread over the tasks that read them (``TaskSpread``).

    Each task's classes are counted first (one row per task and class leaves the scan, as a
    count per class alone would); the task's labelled rows then give each class its sum of
    n²/N over the tasks, so only one row per class reaches the driver.

    Example:
        >>> sorted(profile_classes(events_df, "label").class_counts.items())
        [(0, 995000), (1, 5000)]
    """
    check_columns(df, label_col, input_weight_col)
    per_task_df = (
        df.select(
            F.spark_partition_id().alias("_task"),
            column(label_col).alias("_label"),
            weight_expr(input_weight_col).alias("_weight"),
        )
        .groupBy("_task", "_label")
        .agg(*_row_stats(F.col("_weight")))
    )
    labelled_rows = F.when(F.col("_label").isNotNull(), F.col("rows").cast("double"))
    task_rows = F.sum(labelled_rows).over(Window.partitionBy("_task"))
    class_rows = (
        per_task_df.withColumn("_task_rows", task_rows)
        .groupBy("_label")
        .agg(
            *[F.sum(name).alias(name) for name in _ROW_STATS],
            F.sum(F.col("rows") / F.col("_task_rows")).alias("task_shares"),
            F.sum(F.col("rows").cast("double") ** 2 / F.col("_task_rows")).alias("share_squares"),
        )
        .collect()
    )
    profile = _grouped_profile(class_rows, (), label_col).table()
    labelled = [row for row in class_rows if row["_label"] is not None]
    if not labelled:
        return profile
    # Each task's shares of its classes add up to 1: their sum counts the tasks.
    tasks = round(sum(row["task_shares"] for row in labelled))
    share_squares = {canonical(row["_label"]): row["share_squares"] for row in labelled}
    spread = TaskSpread.of(tasks, share_squares, profile.class_counts)
    return replace(profile, task_spread=spread)


def _row_stats(weight: Column) -> list[Column]:
    """Per group of rows: its rows, the sums of its weights and squared weights, and its
    unusable weights."""
    return [
        F.count(F.lit(1)).alias("rows"),
        F.sum(weight).alias("weight_sum"),
        F.sum(weight * weight).alias("weight_sq_sum"),
        F.count_if(is_bad_weight(weight)).alias("bad_weights"),
    ]


ROW_CHECK_MARKER = "rebalance row check: "


def as_label_type(value: Label, df: DataFrame, label_col: str) -> Label:
    """A label value typed like the label column (``--classes 1`` on a string column is "1")."""
    data_type = df.schema[label_col].dataType
    if isinstance(data_type, T.BooleanType):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    number: type[int] | type[float] | None = None
    if isinstance(data_type, T.IntegralType):
        number = int
    elif isinstance(data_type, T.FloatType | T.DoubleType):
        number = float
    if number is not None and not isinstance(value, bool):
        try:
            return number(value)
        except ValueError:
            raise InputError(
                f"label value {value!r} is not {'an integer' if number is int else 'a number'} "
                f"but '{label_col}' is {data_type.simpleString()}",
                fix={"classes": None, "minority": None},
            ) from None
    return str(value)


# What fixes each row check of a one-pass run: the name travels inside Spark's error.
_ROW_CHECK_FIXES: dict[str, dict[str, Any]] = {
    "unlisted_label": {"classes": None, "one_pass": False},
    "null_label": {"null_labels": "drop"},
    "bad_weight": {"input_weight_col": None},
}


def fail_on_invalid_rows(
    df: DataFrame,
    label_col: str,
    classes: Sequence[Label],
    null_labels: str,
    input_weight_col: str | None,
) -> DataFrame:
    """Fail the job at the first row a one-pass run cannot take, inside the same scan.

    Each check is a ``raise_error`` SQL expression, so a bad row aborts the write before
    Delta commits anything; ``row_check_failure`` turns the Spark error back into one line.
    The checks are part of the label column itself, not a filter: a later filter (dropping
    null labels) cannot be reordered before them and skip the rows they must see.
    """
    label = column(label_col)
    listed = ", ".join(str(value) for value in classes)
    checks = [
        (
            "unlisted_label",
            label.isNotNull() & ~label.isin(list(classes)),
            f"a row of '{label_col}' holds a value not in the stated classes ({listed}): list "
            "every class, or run in two passes",
        )
    ]
    if null_labels == "error":
        checks.append(
            (
                "null_label",
                label.isNull(),
                f"a row has a null '{label_col}': clean the input, or drop such rows",
            )
        )
    if input_weight_col is not None:
        checks.append(
            (
                "bad_weight",
                is_bad_weight(weight_expr(input_weight_col)),
                f"a row has a null, zero, negative, NaN or infinite weight in "
                f"'{input_weight_col}': fix it or filter such rows out first",
            )
        )
    checked_label = None
    for name, condition, message in checks:
        failure = F.raise_error(F.lit(f"{ROW_CHECK_MARKER}{name}: {message}"))
        checked_label = (
            F.when(condition, failure)
            if checked_label is None
            else checked_label.when(condition, failure)
        )
    assert checked_label is not None
    return df.withColumn(label_col, checked_label.otherwise(label))


def row_check_failure(error: Exception) -> InputError | None:
    """The failed row check inside a Spark error as one input error, or None for others."""
    text = str(error)
    start = text.find(ROW_CHECK_MARKER)
    if start < 0:
        return None
    found = text[start + len(ROW_CHECK_MARKER) :].splitlines()[0]
    name, message = found.split(": ", 1)
    message = message.split(" SQLSTATE")[0].rstrip(". ")
    return InputError(f"{message}; nothing was written", fix=_ROW_CHECK_FIXES.get(name))
