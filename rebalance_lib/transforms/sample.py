"""Samplers and the weight column: DataFrame -> DataFrame transforms, Spark SQL only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame

from rebalance_lib.core.errors import InputError
from rebalance_lib.core.options import WEIGHT_COL
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.lookup import GroupNumbers, fresh_name, with_group_numbers
from rebalance_lib.transforms.names import column, hashable
from rebalance_lib.transforms.profile import weight_expr

_HASH_BUCKETS = 1 << 53  # doubles hold every integer below 2**53 exactly


def sample_by_label(
    df: DataFrame, label_col: str, keep_fractions: Mapping[Label, float], seed: int
) -> DataFrame:
    """Stratified Bernoulli sample: exactly the rows ``DataFrame.sampleBy`` keeps.

    ``sampleBy`` compares ``rand(seed)`` with its stratum's fraction inside a Scala UDF; the
    same comparison on a joined fraction is generated code and keeps the same rows
    (``tests/test_sample.py``). Labels missing from ``keep_fractions`` keep no row, as there.
    """
    fractions = {(label,): fraction for label, fraction in keep_fractions.items()}
    return sample_groups(df, [label_col], fractions, "sampleBy", seed, default_fraction=0.0)


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
    default_fraction: float = 1.0,
    keep_draw_as: str | None = None,
    draw_metadata: Mapping[str, Any] | None = None,
) -> DataFrame:
    """Keep each row with its group's fraction (``default_fraction`` for unlisted groups).

    ``sampleBy`` draws ``rand(seed)`` per row as ``DataFrame.sampleBy`` does; ``hash`` draws
    from the seeded hash of ``key_cols``, so all rows of one key in a group go together. The
    draw is taken before the fractions are joined on, so it does not depend on the join.
    ``keep_draw_as`` keeps the draw in a column of that name, with ``draw_metadata`` (a
    factor sweep selects its larger factors from it).
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
    if keep_draw_as is not None and keep_draw_as in df.columns:
        raise InputError(
            f"the input already has a column '{keep_draw_as}' (the table of a sweep?): select "
            "a factor from it, or drop that column first"
        )
    draw_col = keep_draw_as or fresh_name(df, "_rebalance_draw")
    kept_df = df.select("*", draw.alias(draw_col, metadata=dict(draw_metadata or {}))).transform(
        keep_below, group_cols, keep_fractions, draw_col, default_fraction
    )
    return kept_df if keep_draw_as else kept_df.drop(draw_col)


def keep_below(
    df: DataFrame,
    group_cols: Sequence[str],
    keep_fractions: Mapping[tuple[Any, ...], float],
    draw_col: str,
    default_fraction: float = 1.0,
) -> DataFrame:
    """Keep the rows whose draw (a column in [0, 1)) is below their group's keep fraction.

    Example:
        >>> drawn_df.transform(keep_below, ["label"], {(0,): 0.05}, "rebalance_draw")
        DataFrame[id: bigint, label: int, ...]
    """
    fraction_col = fresh_name(df, "_rebalance_keep_fraction")
    fractions = GroupNumbers(keep_fractions, default_fraction)
    return (
        df.transform(with_group_numbers, group_cols, {fraction_col: fractions})
        .filter(column(draw_col) < F.col(fraction_col))
        .drop(fraction_col)
    )


def with_weight(
    df: DataFrame,
    label_col: str,
    weight_multipliers: Mapping[Label, float],
    weight_col: str = WEIGHT_COL,
    input_weight_col: str | None = None,
) -> DataFrame:
    """Add ``weight_col`` = input weight (default 1.0) x the class's multiplier.

    Example:
        >>> kept_df.transform(with_weight, "label", {0: 20.0, 1: 1.0})
        DataFrame[..., weight: double]
    """
    multipliers = {(label,): value for label, value in weight_multipliers.items()}
    return with_group_weight(df, [label_col], multipliers, weight_col, input_weight_col)


def with_group_weight(
    df: DataFrame,
    group_cols: Sequence[str],
    weight_multipliers: Mapping[tuple[Any, ...], float],
    weight_col: str = WEIGHT_COL,
    input_weight_col: str | None = None,
) -> DataFrame:
    """Add ``weight_col`` = input weight x its group's multiplier (1 for unlisted groups)."""
    if weight_col in df.columns and weight_col != input_weight_col:
        raise InputError(
            f"the input already has a column '{weight_col}': name another output weight "
            "column, or scale the existing one as the input weight",
            fix={"weight_col": None, "input_weight_col": weight_col},
        )
    return set_group_weight(df, group_cols, weight_multipliers, weight_col, input_weight_col)


def set_group_weight(
    df: DataFrame,
    group_cols: Sequence[str],
    weight_multipliers: Mapping[tuple[Any, ...], float],
    weight_col: str,
    input_weight_col: str | None,
) -> DataFrame:
    """Set ``weight_col`` = input weight x its group's multiplier, added or replaced."""
    multiplier_col = fresh_name(df, "_rebalance_weight_multiplier")
    multipliers = GroupNumbers(weight_multipliers, 1.0)
    weighted_df = df.transform(with_group_numbers, group_cols, {multiplier_col: multipliers})
    weight = weight_expr(input_weight_col) * F.col(multiplier_col)
    return weighted_df.withColumn(weight_col, weight).drop(multiplier_col)


def drop_null_labels(df: DataFrame, label_col: str) -> DataFrame:
    """Rows with a null label cannot be stratified; the caller counts them first."""
    return df.filter(column(label_col).isNotNull())
