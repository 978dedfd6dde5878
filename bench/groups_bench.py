"""Cost against the number of groups: strata (label x user) and classes, on one table.

    python bench/groups_bench.py generate --rows 2000000
    python bench/groups_bench.py run --strata 50000      # label x 25,000 users
    python bench/groups_bench.py run --classes 100000    # a label with 100,000 classes
    python bench/groups_bench.py sweep                   # all of them; appends to GROUPS.md

Per-group fractions and weights are joined on from a small plan DataFrame, so a run with
50,000 strata should cost about what a run with 4 does on the same table. Each ``run`` is
one Spark process that rebalances the table and prints one JSON line (rows, groups, the
phases' seconds); time the processes as a whole to compare them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from methods import FACTOR, SEED  # the main benchmark's factor and seed
from run_bench import bench_parser

POSITIVE_SHARE = 0.01
MAX_USERS = 25_000
MAX_CLASSES = 100_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, 2_000_000)
    parser.add_argument("action", choices=("generate", "run", "sweep"))
    parser.add_argument("--data-dir", default=".rebalance-bench/groups")
    groups = parser.add_mutually_exclusive_group()
    groups.add_argument("--strata", type=int, help="label x users strata (even, <= 50,000)")
    groups.add_argument("--classes", type=int, help="classes of the multiclass label")
    parser.add_argument("--master", default="local[*]")
    return parser.parse_args(argv)


SWEEP: tuple[tuple[str, int], ...] = (("strata", 4), ("strata", 5_000), ("strata", 50_000))
SWEEP += (("classes", 10), ("classes", 1_000), ("classes", 100_000))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.action == "sweep":
        sweep(args)
        return 0
    from rebalance_lib.storage.session import build_session

    spark = build_session(
        args.master, "rebalance-groups-bench", {"spark.ui.showConsoleProgress": "false"}
    )
    spark.sparkContext.setLogLevel("ERROR")
    source = str(Path(args.data_dir).resolve() / f"rows={args.rows}")
    if args.action == "generate":
        generate(spark, source, args.rows)
        return 0
    output = str(Path(args.data_dir).resolve() / "output")
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    result = rebalance_groups(spark, source, output, args.strata, args.classes)
    result["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result))
    return 0


def sweep(args: argparse.Namespace) -> None:
    """Each (kind, groups) in its own process, timed whole; a Markdown table, also appended
    to bench/GROUPS.md."""
    here = Path(__file__)
    common = ["--rows", str(args.rows), "--data-dir", args.data_dir, "--master", args.master]
    subprocess.run([sys.executable, str(here), "generate", *common], check=True)
    lines = [
        f"### Groups vs time ({args.rows:,} rows, factor {FACTOR}, {args.master}, "
        f"{datetime.now(UTC):%Y-%m-%d}, whole process, one run each)",
        "",
        "| groups | rows out | wall s | sampling + write s | exact s | measure s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, count in SWEEP:
        print(f"groups bench: {count:,} {kind} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        finished = subprocess.run(
            [sys.executable, str(here), "run", f"--{kind}", str(count), *common],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        phases = result["phases_s"]
        lines.append(
            f"| {count:,} {kind} | {result['rows_out']:,} | {wall:.1f} | "
            f"{phases.get('sample_write', 0):.1f} | {phases.get('exact', 0):.1f} | "
            f"{phases.get('measure', 0):.1f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    with (here.parent / "GROUPS.md").open("a") as results:
        results.write("\n" + table)


def generate(spark: Any, source: str, rows: int) -> None:
    """``label`` 1% positive; ``user_<U>`` with U users for U in 2 .. 25,000; ``class_<K>``
    with K classes, class 0 holding half the rows and the others sharing the rest evenly."""
    import pyspark.sql.functions as F

    users = [2, 500, 2_500, MAX_USERS]
    classes = [10, 1_000, MAX_CLASSES]
    df = spark.range(rows).select(
        "id",
        (F.rand(1) < POSITIVE_SHARE).cast("int").alias("label"),
        *[(F.col("id") % count).cast("int").alias(f"user_{count}") for count in users],
        *[
            F.when(F.rand(2) < 0.5, 0)
            .otherwise(1 + F.col("id") % (count - 1))
            .cast("int")
            .alias(f"class_{count}")
            for count in classes
        ],
        F.rand(3).alias("x"),
    )
    df.write.format("delta").mode("overwrite").save(source)


def rebalance_groups(
    spark: Any, source: str, output: str, strata: int | None, classes: int | None
) -> dict[str, Any]:
    from rebalance_lib import rebalance_table

    if classes is not None:
        out = rebalance_table(
            spark, source, label=f"class_{classes}", factor=FACTOR, seed=SEED, exact=True
        )
        groups = classes
    else:
        users = (strata or 4) // 2
        out = rebalance_table(
            spark,
            source,
            label="label",
            strata=["label", f"user_{users}"],
            factor=FACTOR,
            seed=SEED,
        )
        groups = users * 2
    written = out.write(output, mode="overwrite")
    assert written.report is not None
    return {
        "groups": groups,
        "rows_in": written.report.source.rows,
        "rows_out": written.report.output.rows,
        "phases_s": written.report.timings_s,
    }


if __name__ == "__main__":
    sys.exit(main())
