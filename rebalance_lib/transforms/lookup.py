"""Per-group numbers on rows: a CASE over a few groups, a joined plan DataFrame for many."""

from __future__ import annotations

import decimal
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import types as T

from rebalance_lib.transforms.names import column

GroupKey = tuple[Any, ...]

# Up to this many groups the plan is broadcast to every task whatever the session's
# autoBroadcastJoinThreshold (a million keys and a few numbers: tens of MB); beyond, Spark
# chooses, and a shuffle join takes over.
BROADCAST_MAX_GROUPS = 1_000_000
# Up to this many groups the numbers are a CASE in the rows' own projection: no join, and no
# broadcast job (two of them cost 1.1 s on a fresh session); the chain stays short.
INLINE_MAX_GROUPS = 32
_DOUBLE = T.DoubleType()


@dataclass(frozen=True)
class GroupNumbers:
    """One number per group, and the number of every group not listed."""

    values: Mapping[GroupKey, float | int]
    default: float | int
    data_type: T.DataType = _DOUBLE


def fresh_name(df: DataFrame, stem: str) -> str:
    """A column name ``df`` does not have: ``stem``, or ``stem`` with a number."""
    taken = set(df.columns)
    name, number = stem, 1
    while name in taken:
        name, number = f"{stem}_{number}", number + 1
    return name


def with_group_numbers(
    df: DataFrame, group_cols: Sequence[str], numbers: Mapping[str, GroupNumbers]
) -> DataFrame:
    """Add one column per entry of ``numbers``: the row's group's value (null keys match null).

    Up to ``INLINE_MAX_GROUPS`` groups, each value is a CASE over the groups. Beyond, the
    groups and their values become a small table (``literal_table``) joined on the group
    columns (broadcast up to ``BROADCAST_MAX_GROUPS``), so the cost per row does not grow
    with the number of groups, and planning stays linear in it. The caller picks column
    names that are not in ``df`` (see ``fresh_name``).

    Example:
        >>> rows_df.transform(
        ...     with_group_numbers, ["label"], {"_keep": GroupNumbers({(0,): 0.05}, 1.0)}
        ... )
        DataFrame[..., _keep: double]
    """
    keys = list(dict.fromkeys(key for entry in numbers.values() for key in entry.values))
    defaults = {name: F.lit(entry.default).cast(entry.data_type) for name, entry in numbers.items()}
    if not keys:
        return df.select("*", *[value.alias(name) for name, value in defaults.items()])
    key_names = [fresh_name(df, f"_rebalance_group_{index}") for index in range(len(group_cols))]
    key_fields = [
        T.StructField(name, df.schema[group_col].dataType)
        for name, group_col in zip(key_names, group_cols, strict=True)
    ]
    if len(keys) <= INLINE_MAX_GROUPS:
        key_types = [field.dataType for field in key_fields]
        return df.select(
            "*",
            *[
                _case(group_cols, key_types, keys, entry).alias(name)
                for name, entry in numbers.items()
            ],
        )
    value_fields = [T.StructField(name, entry.data_type) for name, entry in numbers.items()]
    rows = [
        (
            *[
                _spark_value(part, field.dataType)
                for part, field in zip(key, key_fields, strict=True)
            ],
            *[
                _spark_value(entry.values.get(key, entry.default), entry.data_type)
                for entry in numbers.values()
            ],
        )
        for key in keys
    ]
    plan_df = literal_table(df.sparkSession, T.StructType(key_fields + value_fields), rows)
    if len(keys) <= BROADCAST_MAX_GROUPS:
        plan_df = F.broadcast(plan_df)
    matches = reduce(
        operator.and_,
        [
            column(group_col).eqNullSafe(F.col(name))
            for group_col, name in zip(group_cols, key_names, strict=True)
        ],
    )
    joined_df = df.join(plan_df, matches, "left")
    return joined_df.select(
        *[column(name) for name in df.columns],
        *[F.coalesce(F.col(name), value).alias(name) for name, value in defaults.items()],
    )


# Key types a JSON text carries exactly (dates as ISO text); NaN and the infinities are the
# non-numeric tokens Spark's JSON reader takes.
_JSON_TYPES = (T.IntegralType, T.FloatType, T.DoubleType, T.StringType, T.BooleanType, T.DateType)


def literal_table(
    spark: SparkSession, schema: T.StructType, rows: Sequence[tuple[Any, ...]]
) -> DataFrame:
    """A small table (a plan's groups and numbers, a list of files) that Spark builds from
    one JSON literal, so that no executor needs Python (a table made from Python rows does,
    in a classic session). Columns of other types (timestamps, decimals) take the table made
    from Python rows."""
    if not all(isinstance(field.dataType, _JSON_TYPES) for field in schema.fields):
        return spark.createDataFrame(rows, schema)
    names = [field.name for field in schema.fields]
    text = json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=str)
    parsed = F.from_json(F.lit(text), T.ArrayType(schema), {"mode": "FAILFAST"})
    return spark.range(1).select(F.inline(parsed))


def _case(
    group_cols: Sequence[str],
    key_types: Sequence[T.DataType],
    keys: Sequence[GroupKey],
    entry: GroupNumbers,
) -> Column:
    """``CASE WHEN <row in group 1> THEN v1 ... ELSE default END`` over the listed groups."""
    branches = [
        (
            reduce(
                operator.and_,
                [
                    column(group_col).eqNullSafe(_typed_literal(part, data_type))
                    for group_col, part, data_type in zip(group_cols, key, key_types, strict=True)
                ],
            ),
            _typed_literal(entry.values.get(key, entry.default), entry.data_type),
        )
        for key in keys
    ]
    chain = F.when(*branches[0])
    for in_group, value in branches[1:]:
        chain = chain.when(in_group, value)
    return chain.otherwise(_typed_literal(entry.default, entry.data_type))


def _typed_literal(value: Any, data_type: T.DataType) -> Column:
    return F.lit(_spark_value(value, data_type)).cast(data_type)


def _spark_value(value: Any, data_type: T.DataType) -> Any:
    """``value`` as the Python type Spark expects for ``data_type`` (labels are planned as
    ints when a double column holds whole numbers)."""
    if value is None:
        return None
    if isinstance(data_type, T.FloatType | T.DoubleType):
        return float(value)
    if isinstance(data_type, T.IntegralType):
        return int(value)
    if isinstance(data_type, T.DecimalType):
        return decimal.Decimal(value)
    return value
