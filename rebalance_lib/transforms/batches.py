"""Rows in an order any B consecutive of which hold a random share of each class, and the
written table's batches counted in file order. Spark SQL only."""

from __future__ import annotations

from collections.abc import Sequence

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import types as T

from rebalance_lib.core.batches import Chunk, DataFile, chunk_shifts, file_offsets
from rebalance_lib.core.targets import Label
from rebalance_lib.transforms.lookup import fresh_name, literal_table
from rebalance_lib.transforms.names import column, hashable

# Mixed into the order's hash so that it never equals a sampler's draw for the same seed.
_ORDER_SALT = 0x6F72646572  # "order"


def in_batch_order(
    df: DataFrame,
    seed: int,
    partition_cols: Sequence[str] = (),
    *,
    tasks: int | None = None,
    in_place: bool = False,
) -> DataFrame:
    """The rows shuffled across and within tasks by a seeded key, so that every file, and
    every run of consecutive rows in one, is a random draw of the classes.

    The key is a seeded 64-bit hash of the row's values (``order_key``): it does not depend
    on the sampler's draw (another salt), nor on the order the input stored its rows in, and
    is the same for the same seed, input and settings, however Spark splits the work or
    retries a task. Rows are spread over ``tasks`` tasks (Spark's choice when None) by the
    key (a round-robin would keep the input's runs of one class inside each task) and sorted
    by it within each task; with ``partition_cols``, each partition's rows are in key order.
    Identical rows share a key, so they stay together: a table of many repeated rows shows
    it in its measured batches.

    ``in_place`` sorts each task's rows by the key where they are, without the shuffle: for
    rows whose tasks already hold the classes in the table's shares (``TaskSpread.mixed``),
    each task's file is then as random a draw as a shuffled one.

    Example:
        >>> kept_df.transform(in_batch_order, 42)
        DataFrame[id: bigint, label: int, ...]
    """
    order_col = fresh_name(df, "_rebalance_order")
    keyed_df = df.withColumn(order_col, order_key(df, seed))
    if not in_place:
        key = F.col(order_col)
        keyed_df = keyed_df.repartition(key) if tasks is None else keyed_df.repartition(tasks, key)
    return keyed_df.sortWithinPartitions(
        *[column(name) for name in partition_cols], F.col(order_col)
    ).drop(order_col)


def order_key(df: DataFrame, seed: int) -> Column:
    """A seeded hash of every hashable column of the row: deterministic, so a task that Spark
    retries, or a stage it recomputes after losing an executor, gives each row its key again
    (a key from the row's position would be nondeterministic to Spark, and a lost shuffle
    could then fail the write)."""
    values = [column(f.name) for f in df.schema.fields if hashable(f.dataType)]
    return F.xxhash64(F.lit(seed), F.lit(_ORDER_SALT), *values)


def batch_histograms(
    rows_df: DataFrame,
    file_order: Sequence[str],
    label_col: str,
    labels: Sequence[Label],
    batch_size: int,
) -> tuple[dict[Label, dict[int, int]], int]:
    """For each of ``labels``: rows of the class in a full batch -> batches with that many;
    and the rows of the files counted.

    ``rows_df`` is a Delta table read with its ``_metadata`` column; only the data files in
    ``file_order`` are counted, in that order. A task reads each split of a file in Parquet's
    row order and numbers its rows one by one (``monotonically_increasing_id``), so a row's
    place in file order is its number plus its chunk's shift (``chunk_shifts``). Batch b holds
    the places [bB, bB+B); the last, partial batch is left out, as a loader that drops it
    would. Two reads of the label column: the chunks, then the batches. Where the files can
    be read as Parquet with their row index, ``file_batch_histograms`` needs one.
    """
    placed_df = rows_df.select(
        column(label_col).alias("_label"),
        F.col("_metadata.file_name").alias("file_name"),
        F.col("_metadata.file_block_start").alias("start"),
        F.monotonically_increasing_id().alias("_id"),
    )
    chunks = [
        Chunk(str(row["file_name"]), int(row["start"]), int(row["first_id"]), int(row["rows"]))
        for row in placed_df.groupBy("file_name", "start")
        .agg(F.min("_id").alias("first_id"), F.count(F.lit(1)).alias("rows"))
        .collect()
    ]
    shifts, table_rows = chunk_shifts(chunks, file_order)
    places = [(c.file_name, c.start, shift) for c, shift in shifts.items()]
    placed = F.col("_id") + F.col("shift")
    return _histograms(placed_df, _SHIFTS, places, placed, labels, batch_size, table_rows)


def file_batch_histograms(
    spark: SparkSession,
    files: Sequence[DataFile],
    label_col: str,
    labels: Sequence[Label],
    batch_size: int,
) -> tuple[dict[Label, dict[int, int]], int]:
    """``batch_histograms`` in one read of the label column: ``files`` (in file order, each
    stating its rows) read as Parquet, a row's place being its file's offset plus its index
    in the file (``_metadata.row_index``)."""
    offsets, table_rows = file_offsets(files)
    placed_df = spark.read.parquet(*[f.path for f in files]).select(
        column(label_col).alias("_label"),
        F.col("_metadata.file_name").alias("file_name"),
        F.col("_metadata.row_index").alias("row_index"),
    )
    places = list(offsets.items())
    placed = F.col("offset") + F.col("row_index")
    return _histograms(placed_df, _OFFSETS, places, placed, labels, batch_size, table_rows)


# The places tables: each chunk's shift, or each file's offset, beside the rows' file name.
_SHIFTS = T.StructType(
    [
        T.StructField("file_name", T.StringType()),
        T.StructField("start", T.LongType()),
        T.StructField("shift", T.LongType()),
    ]
)
_OFFSETS = T.StructType(
    [T.StructField("file_name", T.StringType()), T.StructField("offset", T.LongType())]
)


def _histograms(
    placed_df: DataFrame,
    places_schema: T.StructType,
    places: Sequence[tuple[str | int, ...]],
    place: Column,
    labels: Sequence[Label],
    batch_size: int,
    table_rows: int,
) -> tuple[dict[Label, dict[int, int]], int]:
    """Rows of each class per full batch of ``batch_size`` places, counted into histograms;
    ``places`` (a table of ``places_schema``, joined on the columns it shares with
    ``placed_df``) hold what ``place`` needs beside ``placed_df``."""
    full_batches = table_rows // batch_size
    histograms: dict[Label, dict[int, int]] = {label: {} for label in labels}
    if full_batches == 0 or not labels:
        return histograms, table_rows
    places_df = literal_table(placed_df.sparkSession, places_schema, places)
    keys = [name for name in places_df.columns if name in placed_df.columns]
    batch = F.floor(place / F.lit(batch_size))
    per_batch_df = (
        placed_df.join(F.broadcast(places_df), keys)
        .select("_label", batch.alias("_batch"))
        .filter(F.col("_batch") < F.lit(full_batches))
        .groupBy("_batch")
        .agg(
            *[
                F.count_if(F.col("_label") == F.lit(label)).alias(f"_class_{index}")
                for index, label in enumerate(labels)
            ]
        )
    )
    counted_df = per_batch_df.select(
        F.explode(
            F.array(
                *[
                    F.struct(F.lit(index).alias("class"), F.col(f"_class_{index}").alias("rows"))
                    for index in range(len(labels))
                ]
            )
        ).alias("_counted")
    )
    for row in counted_df.groupBy("_counted.class", "_counted.rows").count().collect():
        histograms[labels[int(row["class"])]][int(row["rows"])] = int(row["count"])
    return histograms, table_rows
