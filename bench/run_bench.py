"""The benchmark: rebalance against a single Spark pass (the floor) and its peers, whole
processes on the same generated Delta tables; regenerates bench/RESULTS.md.

    make bench                                  # 10M, 20M, 40M and 100M rows, 3 rounds
    python bench/run_bench.py --rows 20000000 --repeat 1 --results /tmp/RESULTS.md

Methods, each one process timed from its start to its exit (start-up, JVM and report
included), its peak memory the sum of its processes' own peaks (Python and the JVM):

- floor, naive, duckdb, polars: ``bench/methods.py`` (what each does is said there);
- rebalance: ``rebalance run --factor 10`` as a user types it (classes counted, then
  sampled and written in the batch-ready row order, with its report);
- input-order: the same with ``--row-order input`` (the rows as read): the order's cost;
- one-pass: ``rebalance run --factor 10 --one-pass --classes 0,1 --minority 1``.

Every size gets its own table (id, label at 0.5% positive, 8 float features), written once
by Spark and kept in ``--data-dir``; its files are read once before the rounds so that no
method pays a cold page cache. In each round every method runs once, in an order that
rotates from round to round; a method's figure is the median of its rounds, and its ratio to
the floor is the median of the ratios taken round by round (a drift of the machine's speed
moves both sides of a ratio). ``--memory-rows`` adds single runs of the floor and of
rebalance on a larger, narrower table (2 features) for the driver's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from methods import FACTOR, SEED

HERE = Path(__file__).resolve().parent
POSITIVE_SHARE = 0.005
FEATURES = 8
MEMORY_FEATURES = 2
DEFAULT_SIZES = (10_000_000, 20_000_000, 40_000_000, 100_000_000)
METHODS = ("floor", "rebalance", "input-order", "one-pass", "naive", "duckdb", "polars")
# The goals: rebalance's whole run against the floor's, at these sizes and above.
GOALS = {"rebalance": 1.05, "one-pass": 1.02}
GOAL_SIZES = (20_000_000, 40_000_000, 100_000_000)
GROWTH_GOAL = 1.3
# The batch-ready row order's cost: rebalance's run against the same run in the input's order.
ORDER_GOAL = 1.05


def bench_parser(doc: str | None, rows: int) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and the table's row count."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=rows)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=lambda text: [int(size) for size in text.split(",")],
        default=list(DEFAULT_SIZES),
        help="comma-separated table sizes (default 10M,20M,40M,100M)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size")
    parser.add_argument(
        "--methods",
        type=lambda text: text.split(","),
        default=list(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)} (the floor is always run)",
    )
    parser.add_argument(
        "--memory-rows", type=int, default=0, help="also measure memory on a table this big"
    )
    parser.add_argument("--data-dir", default="bench/data", help="generated tables, kept")
    parser.add_argument(
        "--label-sorted",
        action="store_true",
        help="store each table's rows sorted by label (its positives in files of their own, as "
        "a table sorted or clustered by label is): the batch-ready order must shuffle them",
    )
    parser.add_argument("--results", default="bench/RESULTS.md", help="regenerated in full")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="8g")
    return parser.parse_args(argv)


@dataclass
class Run:
    """One whole process: its wall seconds, peak memory, and what it wrote."""

    method: str
    seconds: float
    peak_rss_bytes: int
    rows_out: int
    bytes_out: int
    phases_s: dict[str, float] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods = [method for method in METHODS if method == "floor" or method in args.methods]
    started = datetime.now(UTC)
    sizes: dict[int, dict[str, list[Run]]] = {}
    for rows in args.rows:
        source = ensure_table(args, rows, FEATURES)
        sizes[rows] = measure_size(args, source, rows, methods)
    memory: dict[int, dict[str, Run]] = {}
    if args.memory_rows:
        source = ensure_table(args, args.memory_rows, MEMORY_FEATURES)
        memory[args.memory_rows] = {
            method: run_method(args, method, source, args.memory_rows)
            for method in ("floor", "rebalance")
        }
    page = results_page(args, started, sizes, memory)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(page)
    print(page, end="")
    return 0


def table_path(data_dir: str | Path, rows: int, features: int = FEATURES) -> Path:
    """Where the generated input of ``rows`` rows lives under ``data_dir``; a table already
    there is used as it is (generate it with ``rebalance_lib.demo.ensure_demo_input``,
    ``POSITIVE_SHARE`` and seed 7)."""
    return Path(data_dir).resolve() / f"rows={rows},features={features}" / "input"


def ensure_table(args: argparse.Namespace, rows: int, features: int) -> Path:
    """The generated input of ``rows`` rows (made once, by Spark, as the demo makes its own);
    with ``--label-sorted``, the same rows stored sorted by label, made once from it."""
    source = table_path(args.data_dir, rows, features)
    made = [
        "from rebalance_lib.demo import ensure_demo_input",
        f"ensure_demo_input(spark, {str(source)!r}, {rows}, {POSITIVE_SHARE}, seed=7, "
        f"feature_count={features})",
    ]
    if args.label_sorted:
        sorted_source = source.parent.with_name(source.parent.name + ",label-sorted") / "input"
        made += [
            f"spark.read.format('delta').load({str(source)!r}).orderBy('label', 'id')"
            f".write.format('delta').save({str(sorted_source)!r})"
        ]
        source = sorted_source
    if not (source / "_delta_log").is_dir():
        print(f"bench: generating {rows:,} rows", file=sys.stderr, flush=True)
        code = "; ".join(
            [
                "from rebalance_lib.storage.session import build_session",
                f"spark = build_session({args.master!r}, 'rebalance-bench-generate', "
                f"{{'spark.driver.memory': {args.driver_memory!r}}})",
                *made,
                "spark.stop()",
            ]
        )
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return source


def measure_size(
    args: argparse.Namespace, source: Path, rows: int, methods: list[str]
) -> dict[str, list[Run]]:
    """Every method ``args.repeat`` times on one table, interleaved, order rotating."""
    warm_page_cache(source)
    runs: dict[str, list[Run]] = {method: [] for method in methods}
    for round_index in range(args.repeat):
        shift = round_index % len(methods)
        for method in methods[shift:] + methods[:shift]:
            runs[method].append(run_method(args, method, source, rows))
    return runs


def warm_page_cache(source: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            with path.open("rb") as data:
                while data.read(1 << 24):
                    pass


def command_for(args: argparse.Namespace, method: str, source: Path, output: Path) -> list[str]:
    if method in ("rebalance", "input-order", "one-pass"):
        rebalance = str(Path(sys.executable).with_name("rebalance"))
        command = [
            *[rebalance, "run", "--input", str(source), "--output", str(output)],
            *["--factor", str(FACTOR), "--seed", str(SEED), "--master", args.master, "--quiet"],
            *["--set", f"spark.conf.spark.driver.memory={args.driver_memory}"],
        ]
        if method == "one-pass":
            command += ["--one-pass", "--classes", "0,1", "--minority", "1"]
        if method == "input-order":
            command += ["--row-order", "input"]
        return command
    return [
        *[sys.executable, str(HERE / "methods.py"), method, str(source), str(output)],
        *["--master", args.master, "--driver-memory", args.driver_memory],
    ]


def run_method(args: argparse.Namespace, method: str, source: Path, rows: int) -> Run:
    output = source.parent / f"output-{method}"
    shutil.rmtree(output, ignore_errors=True)
    print(f"bench: {method} on {rows:,} rows ...", file=sys.stderr, flush=True)
    seconds, peak = timed(command_for(args, method, source, output))
    rows_out, bytes_out = table_size(output)
    report = output / "_rebalance_report" / "report.json"
    phases = json.loads(report.read_text())["timings_s"] if report.is_file() else {}
    print(f"bench: {method}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return Run(method, seconds, peak, rows_out, bytes_out, phases)


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds from start to exit, and the sum of the peak resident memory of the
    command and every process under it (each process's own high-water mark)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    watcher = threading.Thread(target=_watch_memory, args=(process, peaks), daemon=True)
    watcher.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{stderr.decode()[-3000:]}")
    return seconds, sum(peaks.values())


def _watch_memory(process: subprocess.Popen[bytes], peaks: dict[int, int]) -> None:
    while process.poll() is None:
        for pid in _process_tree(process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]) * 1024)
        time.sleep(0.25)


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def table_size(output: Path) -> tuple[int, int]:
    """Rows and bytes of the Delta table written, from its log (delta-rs: no Spark)."""
    import pyarrow
    from deltalake import DeltaTable

    actions = pyarrow.table(DeltaTable(str(output)).get_add_actions(flatten=True))
    return (
        sum(actions.column("num_records").to_pylist()),
        sum(actions.column("size_bytes").to_pylist()),
    )


def median_run(runs: list[Run]) -> Run:
    """The run with the median time, with the highest peak memory of all its rounds."""
    middle = sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]
    return Run(
        middle.method,
        middle.seconds,
        max(run.peak_rss_bytes for run in runs),
        middle.rows_out,
        middle.bytes_out,
        middle.phases_s,
    )


def ratio_to_floor(runs: dict[str, list[Run]], method: str, base: str = "floor") -> float:
    """The median over rounds of this method's seconds over ``base``'s in the same round."""
    return statistics.median(
        run.seconds / other.seconds for run, other in zip(runs[method], runs[base], strict=True)
    )


def results_page(
    args: argparse.Namespace,
    started: datetime,
    sizes: dict[int, dict[str, list[Run]]],
    memory: dict[int, dict[str, Run]],
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python bench/run_bench.py {' '.join(sys.argv[1:])}`".rstrip() + ", "
        f"{started:%Y-%m-%d %H:%M} UTC.",
        "",
        machine_line(),
        "",
        f"Tables: id, label at {POSITIVE_SHARE:.1%} positive, {FEATURES} float features"
        f"{', stored sorted by label' if args.label_sorted else ''}; "
        f"factor {FACTOR}. Whole processes, {args.master}, medians of {args.repeat} "
        "interleaved rounds with the order rotating; x floor is the median of the round-by-round "
        "ratios. The methods are described in `bench/run_bench.py` and `bench/methods.py`.",
        "",
    ]
    lines += goals_section(sizes)
    for rows, runs in sizes.items():
        lines += size_section(rows, runs)
    if memory:
        lines += memory_section(sizes, memory)
    return "\n".join(lines) + "\n"


def machine_line() -> str:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("pyspark", "delta-spark", "duckdb", "deltalake", "polars")
    )
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), {memory_kib / 2**20:.0f} GiB; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"{packages}; {java.splitlines()[0] if java else 'java unknown'}."
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def goals_section(sizes: dict[int, dict[str, list[Run]]]) -> list[str]:
    measured = [method for method in GOALS if all(method in runs for runs in sizes.values())]
    if not measured:
        return order_lines(sizes)
    lines = [
        "## Goals",
        "",
        "| rows | "
        + " | ".join(f"{method} x floor (goal <= {GOALS[method]:.2f})" for method in measured)
        + " |",
        "|---:|" + "---:|" * len(measured),
    ]
    for rows, runs in sizes.items():
        cells = []
        for method in measured:
            ratio = ratio_to_floor(runs, method)
            met = "met" if ratio <= GOALS[method] else "not met"
            cells.append(f"{ratio:.3f} ({met})" if rows in GOAL_SIZES else f"{ratio:.3f}")
        lines.append(f"| {rows:,} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += order_lines(sizes)
    lines += growth_lines(sizes)
    return lines


def order_lines(sizes: dict[int, dict[str, list[Run]]]) -> list[str]:
    """What the batch-ready row order costs: rebalance against the same run in input order."""
    measured = [rows for rows, runs in sizes.items() if {"rebalance", "input-order"} <= set(runs)]
    if not measured:
        return []
    lines = [
        f"The row order's cost (rebalance x input-order, round by round; goal <= {ORDER_GOAL}):",
        "",
        "| rows | rebalance s | input-order s | rebalance x input-order |",
        "|---:|---:|---:|---:|",
    ]
    for rows in measured:
        runs = sizes[rows]
        ratio = ratio_to_floor(runs, "rebalance", "input-order")
        met = "met" if ratio <= ORDER_GOAL else "not met"
        lines.append(
            f"| {rows:,} | {median_run(runs['rebalance']).seconds:.1f} | "
            f"{median_run(runs['input-order']).seconds:.1f} | {ratio:.3f} ({met}) |"
        )
    return [*lines, ""]


def growth_lines(sizes: dict[int, dict[str, list[Run]]]) -> list[str]:
    """Seconds per extra row from the smallest to the largest table, against the floor's."""
    if len(sizes) < 2:
        return []
    small, large = min(sizes), max(sizes)
    extra_rows = large - small

    def per_row(method: str) -> float:
        return (
            median_run(sizes[large][method]).seconds - median_run(sizes[small][method]).seconds
        ) / extra_rows

    floor = per_row("floor")
    lines = [
        f"Growth from {small:,} to {large:,} rows (median seconds, extra time per extra row; "
        f"goal: rebalance at most {GROWTH_GOAL}x the floor's):",
        "",
        "| method | ns per extra row | x floor's |",
        "|---|---:|---:|",
    ]
    for method in sizes[large]:
        if method in sizes[small]:
            cost = per_row(method)
            lines.append(f"| {method} | {cost * 1e9:.1f} | {cost / floor:.2f} |")
    return [*lines, ""]


def size_section(rows: int, runs: dict[str, list[Run]]) -> list[str]:
    lines = [
        f"## {rows:,} rows",
        "",
        "| method | rows out | MiB out | seconds | min - max | x floor | input rows/s "
        "| peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, measured in runs.items():
        middle = median_run(measured)
        times = [run.seconds for run in measured]
        lines.append(
            f"| {method} | {middle.rows_out:,} | {middle.bytes_out / 2**20:,.1f} | "
            f"{middle.seconds:.1f} | {min(times):.1f} - {max(times):.1f} | "
            f"{ratio_to_floor(runs, method):.3f} | {rows / middle.seconds:,.0f} | "
            f"{middle.peak_rss_bytes / 2**20:,.0f} |"
        )
    for method, measured in runs.items():
        middle = median_run(measured)
        if middle.phases_s:
            phases = {**middle.phases_s}
            phases["start-up, report and exit"] = middle.seconds - sum(phases.values())
            shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
            lines += ["", f"{method} phases (its median run): {shown}"]
    return [*lines, ""]


def memory_section(
    sizes: dict[int, dict[str, list[Run]]], memory: dict[int, dict[str, Run]]
) -> list[str]:
    lines = [
        "## Driver memory",
        "",
        "Peak resident memory of each run's processes (Python and the JVM), highest of its "
        f"rounds; the largest table has {MEMORY_FEATURES} features and one run per method.",
        "",
        "| rows | floor MiB | rebalance MiB | rebalance seconds | rebalance x floor |",
        "|---:|---:|---:|---:|---:|",
    ]
    pairs = [
        (rows, median_run(runs["floor"]), median_run(runs["rebalance"]))
        for rows, runs in sizes.items()
        if "rebalance" in runs
    ] + [(rows, single["floor"], single["rebalance"]) for rows, single in memory.items()]
    for rows, floor, rebalance in pairs:
        lines.append(
            f"| {rows:,} | {floor.peak_rss_bytes / 2**20:,.0f} | "
            f"{rebalance.peak_rss_bytes / 2**20:,.0f} | {rebalance.seconds:.1f} | "
            f"{rebalance.seconds / floor.seconds:.3f} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
