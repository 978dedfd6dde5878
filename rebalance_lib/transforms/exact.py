"""Exactly the planned number of rows per downsampled group, without a sort or a collect.

Rows are ranked by a seeded hash of their key, ``u`` in [0, 1), with a second hash of the
whole row to break ties. For a group of N rows keeping fraction f, about N*f rows have
u < f; the exact cut lies within a few binomial deviations of f. One column-pruned pass
counts, per group, the rows below that band and collects the (u, tie-break) pairs inside
it (a few thousand values even at a billion rows); the driver picks the k-th pair as the
group's threshold, and the write keeps rows at or below it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame
from pyspark.sql import types as T

from rebalance_lib.core.errors import InputError
from rebalance_lib.core.keys import group_key
from rebalance_lib.core.plan import exact_rows
from rebalance_lib.transforms.lookup import GroupNumbers, fresh_name, with_group_numbers
from rebalance_lib.transforms.names import column, hashable
from rebalance_lib.transforms.sample import key_hash_uniform

log = logging.getLogger(__name__)

GroupKey = tuple[Any, ...]
_BAND_SIGMAS = 6.0
_MAX_WIDENINGS = 6


@dataclass(frozen=True)
class Threshold:
    """Keep a row of the group when (u, tie) <= (u_max, tie_max)."""

    u_max: float
    tie_max: int


def exact_target(rows: int, keep_fraction: float) -> int:
    """The planned row count of a group: see ``plan.exact_rows``."""
    return exact_rows(rows, 1.0 / keep_fraction)


def band(rows: int, keep_fraction: float, widening: int) -> tuple[float, float]:
    """The interval of u around ``keep_fraction`` that holds the exact cut with near certainty."""
    sd = math.sqrt(keep_fraction * (1.0 - keep_fraction) / rows) + 1.0 / rows
    half_width = _BAND_SIGMAS * sd * 4.0**widening
    return max(0.0, keep_fraction - half_width), min(1.0, keep_fraction + half_width)


def pick_threshold(
    below: int, band_pairs: Sequence[tuple[float, int]], wanted: int
) -> Threshold | None:
    """The ``wanted``-th smallest row overall, given ``below`` rows under the band; None when
    the cut is not inside the band (the caller widens it)."""
    k = wanted - below
    if k < 1 or k > len(band_pairs):
        return None
    u_max, tie_max = sorted(band_pairs)[k - 1]
    return Threshold(u_max, tie_max)


def rank_columns(df: DataFrame, seed: int, key_cols: Sequence[str]) -> tuple[Column, Column]:
    """u from the seeded hash of the key (the whole row when no key is given), and a
    tie-break hash of the whole row; map and variant columns cannot be hashed, so "the whole
    row" is its other columns."""
    missing = [name for name in key_cols if name not in df.columns]
    if missing:
        raise InputError(f"key column(s) {', '.join(missing)} not found", fix={"sample_key": None})
    unhashable = [f.name for f in df.schema.fields if not hashable(f.dataType)]
    if set(key_cols) & set(unhashable):
        raise InputError(
            f"key column(s) {', '.join(sorted(set(key_cols) & set(unhashable)))} hold maps or "
            "variants, which cannot be hashed: choose other key columns",
            fix={"sample_key": None},
        )
    row_cols = [name for name in df.columns if name not in unhashable]
    u = key_hash_uniform(list(key_cols) or row_cols, seed)
    tie = F.xxhash64(F.lit(seed + 1), *[column(name) for name in row_cols])
    return u, tie


def find_thresholds(
    df: DataFrame,
    group_cols: Sequence[str],
    keep_fractions: Mapping[GroupKey, float],
    group_rows: Mapping[GroupKey, int],
    seed: int,
    key_cols: Sequence[str],
) -> dict[GroupKey, Threshold]:
    """Per downsampled group, the (u, tie) cut that keeps exactly ``exact_target`` rows."""
    u, tie = rank_columns(df, seed, key_cols)
    group_names = [f"_g{index}" for index in range(len(group_cols))]  # the ranked rows' groups
    pending = {key: 0 for key, fraction in keep_fractions.items() if fraction < 1.0}
    thresholds: dict[GroupKey, Threshold] = {}
    while pending:
        bands = {key: band(group_rows[key], keep_fractions[key], w) for key, w in pending.items()}
        band_numbers = {
            "_lo": GroupNumbers({key: b[0] for key, b in bands.items()}, -1.0),
            "_hi": GroupNumbers({key: b[1] for key, b in bands.items()}, -1.0),
        }
        ranked_df = (
            df.select(
                *[
                    column(name).alias(alias)
                    for name, alias in zip(group_cols, group_names, strict=True)
                ],
                u.alias("_u"),
                tie.alias("_tie"),
            )
            .transform(with_group_numbers, group_names, band_numbers)
            .filter(F.col("_hi") >= 0)
        )
        in_band = (F.col("_u") >= F.col("_lo")) & (F.col("_u") < F.col("_hi"))
        rows = (
            ranked_df.groupBy(*group_names)
            .agg(
                F.count_if(F.col("_u") < F.col("_lo")).alias("below"),
                F.collect_list(F.when(in_band, F.struct("_u", "_tie"))).alias("band"),
            )
            .collect()
        )
        found = {group_key(row[name] for name in group_names): row for row in rows}
        for key in list(pending):
            row = found.get(key)
            wanted = exact_target(group_rows[key], keep_fractions[key])
            pairs = [(pair["_u"], pair["_tie"]) for pair in row["band"]] if row else []
            threshold = pick_threshold(row["below"] if row else 0, pairs, wanted)
            if threshold is not None:
                thresholds[key] = threshold
                del pending[key]
            elif pending[key] + 1 >= _MAX_WIDENINGS:
                raise InputError(
                    f"cannot cut group {key} at exactly {wanted:,} rows: too many rows share "
                    "one key; use a more distinct key",
                    fix={"sample_key": None},
                )
            else:
                pending[key] += 1
                log.info("[exact] widening the search band of group %s", key)
    return thresholds


def keep_exact(
    df: DataFrame,
    group_cols: Sequence[str],
    thresholds: Mapping[GroupKey, Threshold],
    seed: int,
    key_cols: Sequence[str],
) -> DataFrame:
    """Keep the rows at or below their group's threshold; groups without one keep all rows."""
    u, tie = rank_columns(df, seed, key_cols)
    u_col, tie_col = fresh_name(df, "_rebalance_u"), fresh_name(df, "_rebalance_tie")
    u_max_col, tie_max_col = (
        fresh_name(df, "_rebalance_u_max"),
        fresh_name(df, "_rebalance_tie_max"),
    )
    cuts = {
        u_max_col: GroupNumbers({k: t.u_max for k, t in thresholds.items()}, 2.0),
        tie_max_col: GroupNumbers({k: t.tie_max for k, t in thresholds.items()}, 0, T.LongType()),
    }
    u_below, u_at = F.col(u_col) < F.col(u_max_col), F.col(u_col) == F.col(u_max_col)
    return (
        df.select("*", u.alias(u_col), tie.alias(tie_col))
        .transform(with_group_numbers, group_cols, cuts)
        .filter(u_below | (u_at & (F.col(tie_col) <= F.col(tie_max_col))))
        .drop(u_col, tie_col, u_max_col, tie_max_col)
    )
