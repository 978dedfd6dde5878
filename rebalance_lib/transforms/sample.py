"""Samplers and the weight column: DataFrame -> DataFrame transforms, Spark SQL only."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from rebalance_lib.core.errors import InputError
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.names import column, hashable
from rebalance_lib.transforms.profile import weight_expr

_HASH_BUCKETS = 1 << 53  # doubles hold every integer below 2**53 exactly


def per_group(
    columns: Sequence[str],
    values: Mapping[tuple[Any, ...], float | int],
    default: float | int = 1.0,
) -> Column:
    """A CASE expression mapping each combination of column values to a number.

    Keys are tuples of values in the order of ``columns`` (null matches null); rows of any
    other combination get ``default``.
    """
    expression = None
    for key, value in values.items():
        condition = reduce(
            operator.and_,
            [column(name).eqNullSafe(F.lit(part)) for name, part in zip(columns, key, strict=True)],
        )
        expression = (
            F.when(condition, F.lit(value))
            if expression is None
            else expression.when(condition, F.lit(value))
        )
    return F.lit(default) if expression is None else expression.otherwise(F.lit(default))


def per_label(label_col: str, values: Mapping[Label, float], default: float = 1.0) -> Column:
    """A CASE expression mapping each label value to a number (``default`` for the rest)."""
    return per_group([label_col], {(label,): value for label, value in values.items()}, default)


def sample_by_label(
    df: DataFrame, label_col: str, keep_fractions: Mapping[Label, float], seed: int
) -> DataFrame:
    """Stratified Bernoulli sample: exactly the rows ``DataFrame.sampleBy`` keeps.

    ``sampleBy`` compares ``rand(seed)`` with its stratum's fraction inside a Scala UDF;
    the same comparison as a CASE expression is generated code, about 20% faster per row
    on a narrow table, and keeps the same rows (``tests/test_sample.py``).
    """
    return df.filter(F.rand(seed) < per_label(label_col, keep_fractions, default=0.0))


def key_hash_uniform(key_cols: Sequence[str], seed: int) -> Column:
    """A number in [0, 1) from a seeded 64-bit hash of the key: the same for the same key."""
    hashed = F.xxhash64(F.lit(seed), *[column(name) for name in key_cols])
    return F.pmod(hashed, F.lit(_HASH_BUCKETS)) / F.lit(float(_HASH_BUCKETS))


def sample_by_key_hash(
    df: DataFrame,
    label_col: str,
    keep_fractions: Mapping[Label, float],
    seed: int,
    key_cols: Sequence[str],
) -> DataFrame:
    """Keep a row when its key's seeded hash falls below its class's keep fraction.

    Unlike ``sampleBy`` the choice depends only on the row's key and the seed, never on
    partitioning, executor count or task retries.
    """
    fractions = {(label,): fraction for label, fraction in keep_fractions.items()}
    return sample_groups(df, [label_col], fractions, "hash", seed, key_cols)


def sample_groups(
    df: DataFrame,
    group_cols: Sequence[str],
    keep_fractions: Mapping[tuple[Any, ...], float],
    method: str,
    seed: int,
    key_cols: Sequence[str] = (),
) -> DataFrame:
    """Keep each row with its group's fraction (groups missing from the map keep every row).

    ``sampleBy`` draws ``rand(seed)`` per row as ``DataFrame.sampleBy`` does; ``hash`` draws
    from the seeded hash of ``key_cols``, so all rows of one key in a group go together.
    """
    if method == "hash":
        missing = [name for name in key_cols if name not in df.columns]
        missing += [
            name
            for name in key_cols
            if name in df.columns and not hashable(df.schema[name].dataType)
        ]
        if missing:
            raise InputError(
                f"the hash sampler's key column(s) {', '.join(missing)} are not in the input, "
                "or hold maps or variants, which cannot be hashed",
                fix={"sample_key": None},
            )
        draw = key_hash_uniform(key_cols, seed)
    else:
        draw = F.rand(seed)
    return df.filter(draw < per_group(group_cols, keep_fractions))


def with_weight(
    df: DataFrame,
    label_col: str,
    weight_multipliers: Mapping[Label, float],
    weight_col: str = "weight",
    input_weight_col: str | None = None,
) -> DataFrame:
    """Add ``weight_col`` = input weight (default 1.0) x the class's multiplier.

    Example:
        >>> kept_df.transform(with_weight, "label", {0: 20.0, 1: 1.0})
    """
    multipliers = {(label,): value for label, value in weight_multipliers.items()}
    return with_group_weight(df, [label_col], multipliers, weight_col, input_weight_col)


def with_group_weight(
    df: DataFrame,
    group_cols: Sequence[str],
    weight_multipliers: Mapping[tuple[Any, ...], float],
    weight_col: str = "weight",
    input_weight_col: str | None = None,
) -> DataFrame:
    """Add ``weight_col`` = input weight x its group's multiplier (1 for unlisted groups)."""
    if weight_col in df.columns and weight_col != input_weight_col:
        raise InputError(
            f"the input already has a column '{weight_col}': name another output weight "
            "column, or scale the existing one as the input weight",
            fix={"weight_col": None, "input_weight_col": weight_col},
        )
    weight = weight_expr(input_weight_col) * per_group(group_cols, weight_multipliers)
    return df.withColumn(weight_col, weight)


def drop_null_labels(df: DataFrame, label_col: str) -> DataFrame:
    """Rows with a null label cannot be stratified; the caller counts them first."""
    return df.filter(column(label_col).isNotNull())
