"""Benchmark on one generated Delta table: floor vs a hand-written script vs rebalance.

    make bench ROWS=100000000

- floor: read, a trivial filter keeping as many rows as rebalance keeps, a constant column,
  write Delta: the unavoidable I/O.
- naive: what a user writes by hand: count by label, sampleBy, withColumn, write, then read
  the output back to count it for a report.
- rebalance: the product's job with its full report, in one pass (--one-pass: the factor,
  the minority and the classes are stated, so the counts are observed during the write).

Each method runs in its own Spark process (so peak memory is its own), prints one JSON line,
and the parent prints a Markdown table and appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

METHODS = ("floor", "naive", "rebalance")
POSITIVE_SHARE = 0.005
DEFAULT_FEATURES = 8
FACTOR = 10
SEED = 42


def bench_parser(doc: str | None, rows: int) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and the table's row count."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=rows)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, 10_000_000)
    parser.add_argument(
        "--data-dir", default="bench/data", help="generated tables, kept between runs"
    )
    parser.add_argument(
        "--results", default="bench/RESULTS.md", help="Markdown file the table is appended to"
    )
    parser.add_argument(
        "--features", type=int, default=DEFAULT_FEATURES, help="float features per row"
    )
    parser.add_argument(
        "--methods",
        type=lambda text: text.split(","),
        default=list(METHODS),
        help="comma-separated subset of floor,naive,rebalance (floor is always measured)",
    )
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds; the order of the methods rotates each round and the median is shown",
    )
    parser.add_argument("--method", choices=("generate", "warm", *METHODS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.method:
        print(json.dumps(run_method(args)), flush=True)
        return 0
    run_child(args, "generate")
    run_child(args, "warm")  # the first method must not be the one that pays a cold page cache
    methods = [method for method in METHODS if method == "floor" or method in args.methods]
    rounds: dict[str, list[dict[str, Any]]] = {method: [] for method in methods}
    for round_index in range(args.repeat):
        shift = round_index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            rounds[method].append(run_child(args, method))
    results = [median_run(runs) for runs in rounds.values()]
    table = markdown_table(results) + phase_lines(results)
    print(table)
    append_results(Path(args.results), args, table)
    return 0


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median time, with the highest peak memory of all its rounds."""
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    peak = max(run["peak_rss_bytes"] for run in runs)
    return {**middle, "peak_rss_bytes": peak, "rounds": len(runs)}


def run_child(args: argparse.Namespace, method: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--method",
        method,
        "--rows",
        str(args.rows),
        "--data-dir",
        args.data_dir,
        "--features",
        str(args.features),
        "--master",
        args.master,
        "--driver-memory",
        args.driver_memory,
    ]
    print(f"bench: {method} ({args.rows:,} rows) ...", file=sys.stderr, flush=True)
    finished = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def table_paths(args: argparse.Namespace) -> tuple[str, str]:
    root = Path(args.data_dir).resolve() / f"rows={args.rows},features={args.features}"
    return str(root / "input"), str(root / f"output-{args.method}")


def run_method(args: argparse.Namespace) -> dict[str, Any]:
    from delta.tables import DeltaTable
    from scans import source_scans, sql_execution_count

    from rebalance_lib.demo import ensure_demo_input
    from rebalance_lib.storage.session import build_session

    spark = build_session(
        args.master,
        f"rebalance-bench-{args.method}",
        {"spark.driver.memory": args.driver_memory, "spark.ui.showConsoleProgress": "false"},
    )
    spark.sparkContext.setLogLevel("ERROR")
    source, output = table_paths(args)
    if args.method == "warm":
        spark.read.format("delta").load(source).write.format("noop").mode("overwrite").save()
        return {"method": "warm"}
    if args.method == "generate":
        ensure_demo_input(
            spark, source, args.rows, POSITIVE_SHARE, seed=7, feature_count=args.features
        )
        return {"method": "generate"}
    shutil.rmtree(output, ignore_errors=True)  # every method writes a fresh table
    marker = sql_execution_count(spark)
    started = time.perf_counter()
    rows_out, phases = METHOD_BODIES[args.method](spark, source, output)
    seconds = time.perf_counter() - started
    return {
        "method": args.method,
        "rows_in": args.rows,
        "rows_out": rows_out,
        "phases_s": phases,
        "bytes_out": DeltaTable.forPath(spark, output).detail().first()["sizeInBytes"],
        "seconds": seconds,
        "peak_rss_bytes": peak_rss_bytes(spark),
        "source_scans": source_scans(spark, source, marker),
    }


Phases = dict[str, float]


def floor(spark: Any, source: str, output: str) -> tuple[int, Phases]:
    import pyspark.sql.functions as F

    kept_df = (
        spark.read.format("delta")
        .load(source)
        .filter((F.col("label") == 1) | (F.col("id") % FACTOR == 0))
        .withColumn("weight", F.lit(1.0))
    )
    kept_df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(output)
    return int(spark.read.format("delta").load(output).count()), {}  # a metadata-only count


def naive(spark: Any, source: str, output: str) -> tuple[int, Phases]:
    import pyspark.sql.functions as F

    source_df = spark.read.format("delta").load(source)
    counts = {row["label"]: row["count"] for row in source_df.groupBy("label").count().collect()}
    minority = min(counts, key=counts.__getitem__)
    fractions = {label: 1.0 if label == minority else 1 / FACTOR for label in counts}
    weighted_df = source_df.sampleBy("label", fractions, SEED).withColumn(
        "weight", F.when(F.col("label") == minority, 1.0).otherwise(float(FACTOR))
    )
    weighted_df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        output
    )
    written_df = spark.read.format("delta").load(output)
    report = written_df.groupBy("label").agg(F.count("*").alias("rows"), F.sum("weight")).collect()
    return int(sum(row["rows"] for row in report)), {}


def rebalance(spark: Any, source: str, output: str) -> tuple[int, Phases]:
    from rebalance_lib import rebalance_table

    out = rebalance_table(
        spark, source, one_pass=True, classes=[0, 1], minority=1, factor=FACTOR, seed=SEED
    )
    written = out.write(output, mode="overwrite")
    assert written.report is not None
    return written.report.output.rows, written.report.timings_s


METHOD_BODIES = {"floor": floor, "naive": naive, "rebalance": rebalance}


def peak_rss_bytes(spark: Any) -> int:
    """Peak resident memory of the driver: its JVM (VmHWM) plus this Python process."""
    jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    status = Path(f"/proc/{jvm_pid}/status").read_text()
    jvm_kib = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
    )
    python_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (jvm_kib + python_kib) * 1024


def markdown_table(results: list[dict[str, Any]]) -> str:
    floor_seconds = next(r["seconds"] for r in results if r["method"] == "floor")
    naive_seconds = next((r["seconds"] for r in results if r["method"] == "naive"), None)
    lines = [
        "| method | rows in | rows out | MiB out | seconds | input rows/s | x floor | x naive "
        "| peak driver RSS (MiB) | source scans |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cells = [
            r["method"],
            f"{r['rows_in']:,}",
            f"{r['rows_out']:,}",
            f"{r['bytes_out'] / 2**20:,.1f}",
            f"{r['seconds']:.1f}",
            f"{r['rows_in'] / r['seconds']:,.0f}",
            f"{r['seconds'] / floor_seconds:.2f}",
            f"{r['seconds'] / naive_seconds:.2f}" if naive_seconds else "-",
            f"{r['peak_rss_bytes'] / 2**20:,.0f}",
            str(r["source_scans"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def phase_lines(results: list[dict[str, Any]]) -> str:
    """Where rebalance's time went, from its own report; "other" is lineage and the report."""
    lines = []
    for r in results:
        if r["phases_s"]:
            phases = dict(r["phases_s"])
            phases["other"] = r["seconds"] - sum(phases.values())
            shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
            lines.append(f"\n\n{r['method']} phases: {shown}")
    return "".join(lines)


def append_results(results_file: Path, args: argparse.Namespace, table: str) -> None:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    heading = (
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.rows:,} rows (id, label at "
        f"{POSITIVE_SHARE:.1%} positive, {args.features} float features), factor {FACTOR}; "
        f"median of {args.repeat} round(s), method order rotating, page cache warmed first\n\n"
        f"{os.cpu_count()} cores, {memory_kib / 2**20:.0f} GiB; "
        f"Python {platform.python_version()}, "
        f"pyspark {version('pyspark')}, delta-spark {version('delta-spark')}, "
        f"{java.splitlines()[0] if java else 'java unknown'}\n\n"
    )
    results_file.parent.mkdir(parents=True, exist_ok=True)
    with results_file.open("a") as results:
        results.write(heading + table + "\n\n")


if __name__ == "__main__":
    sys.exit(main())
