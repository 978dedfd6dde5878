"""The benchmark's yardsticks, each the whole job a process runs: ``python bench/methods.py
METHOD SOURCE OUTPUT [--master M] [--driver-memory SIZE]``.

- floor: one Spark pass: read the Delta table, a filter keeping as many rows as the job keeps,
  a constant weight column, write Delta. No counting, no report: the unavoidable I/O.
- naive: what a user writes by hand in PySpark: count by label, sampleBy, weight, write, then
  read the output back to count it for a report.
- duckdb: the same job in DuckDB (classes counted, the majority hashed down to 1/F, weighted),
  read and written through delta-rs (the ``deltalake`` package).
- polars: the same job in Polars, through delta-rs too.

The Spark methods start their session exactly as ``rebalance`` does (the same JARs and
settings), so the comparison is of the job, not of the set-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

FACTOR = 10
SEED = 42


def _spark(args: argparse.Namespace, method: str) -> Any:
    from rebalance_lib.storage.session import build_session

    return build_session(
        args.master,
        f"rebalance-bench-{method}",
        {"spark.driver.memory": args.driver_memory, "spark.ui.showConsoleProgress": "false"},
    )


def floor(args: argparse.Namespace) -> None:
    import pyspark.sql.functions as F

    spark = _spark(args, "floor")
    kept_df = (
        spark.read.format("delta")
        .load(args.source)
        .filter((F.col("label") == 1) | (F.col("id") % FACTOR == 0))
        .withColumn("weight", F.lit(1.0))
    )
    kept_df.write.format("delta").save(args.output)
    spark.stop()


def naive(args: argparse.Namespace) -> None:
    import pyspark.sql.functions as F

    spark = _spark(args, "naive")
    source_df = spark.read.format("delta").load(args.source)
    counts = {row["label"]: row["count"] for row in source_df.groupBy("label").count().collect()}
    minority = min(counts, key=counts.__getitem__)
    fractions = {label: 1.0 if label == minority else 1 / FACTOR for label in counts}
    weighted_df = source_df.sampleBy("label", fractions, SEED).withColumn(
        "weight", F.when(F.col("label") == minority, 1.0).otherwise(float(FACTOR))
    )
    weighted_df.write.format("delta").save(args.output)
    written_df = spark.read.format("delta").load(args.output)
    report = written_df.groupBy("label").agg(F.count("*").alias("rows"), F.sum("weight")).collect()
    print({row["label"]: row["rows"] for row in report})
    spark.stop()


def duckdb(args: argparse.Namespace) -> None:
    import duckdb
    from deltalake import DeltaTable, write_deltalake

    connection = duckdb.connect()
    connection.register("source", DeltaTable(args.source).to_pyarrow_dataset())
    counts = dict(connection.sql("SELECT label, count(*) FROM source GROUP BY label").fetchall())
    minority = min(counts, key=counts.__getitem__)
    kept = connection.sql(
        f"SELECT *, CASE WHEN label = {minority} THEN 1.0 ELSE {float(FACTOR)} END AS weight "
        f"FROM source WHERE label = {minority} OR hash(id, {SEED}) % {FACTOR} = 0"
    )
    write_deltalake(args.output, kept.to_arrow_reader())


def polars(args: argparse.Namespace) -> None:
    import polars as pl

    source = pl.scan_delta(args.source)
    counts = dict(source.group_by("label").len().collect().iter_rows())
    minority = min(counts, key=counts.__getitem__)
    is_minority = pl.col("label") == minority
    kept = source.filter(is_minority | (pl.col("id").hash(SEED) % FACTOR == 0)).with_columns(
        weight=pl.when(is_minority).then(1.0).otherwise(float(FACTOR))
    )
    kept.collect(engine="streaming").write_delta(args.output)


METHODS: dict[str, Callable[[argparse.Namespace], None]] = {
    "floor": floor,
    "naive": naive,
    "duckdb": duckdb,
    "polars": polars,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("method", choices=sorted(METHODS))
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="8g")
    args = parser.parse_args(argv)
    METHODS[args.method](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
