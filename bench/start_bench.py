"""The fixed cost of a run: from the process's start to Spark's first stage and first Delta read.

    python bench/start_bench.py --rows 2000000 --repeat 3

Each round runs the real command, `rebalance run`, as a whole process on a small Delta table
twice, interleaved: once with Delta's JARs noted in the cache (a start loads those files),
once with an empty cache folder (a start resolves the JARs through Ivy, as every start did
before the JARs were noted). Spark's event log gives when the application started and when
its first stage was submitted; the run's report gives the open phase (pinning the input's
version: the first Delta read). Medians of the rounds; appended to bench/START.md.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from methods import FACTOR, SEED
from run_bench import bench_parser

CONDITIONS = ("JARs noted in the cache", "JARs resolved through Ivy")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, 2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default=".rebalance-bench/start")
    parser.add_argument("--results", default="bench/START.md")
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args(argv)
    rebalance = str(Path(sys.executable).with_name("rebalance"))
    source = Path(args.data_dir).resolve() / f"rows={args.rows}"
    if not (source / "_delta_log").is_dir():
        generate(rebalance, source, args.rows, args.master)
    # Spark finishes its event log in a shutdown hook, after the command has returned: the
    # logs stay until the next benchmark run.
    event_logs = Path(args.data_dir).resolve() / "event-logs"
    shutil.rmtree(event_logs, ignore_errors=True)
    runs: dict[str, list[dict[str, float]]] = {condition: [] for condition in CONDITIONS}
    for round_index in range(args.repeat):
        order = CONDITIONS if round_index % 2 == 0 else CONDITIONS[::-1]
        for condition in order:
            events = event_logs / f"{round_index}-{CONDITIONS.index(condition)}"
            events.mkdir(parents=True)
            runs[condition].append(timed_run(rebalance, source, args.master, condition, events))
            print(f"bench: {condition}: {runs[condition][-1]}", file=sys.stderr, flush=True)
    table = markdown_table(runs, args.rows, args.master)
    print(table)
    with Path(args.results).open("a") as results:
        results.write("\n" + table)
    return 0


def generate(rebalance: str, source: Path, rows: int, master: str) -> None:
    """The demo's own table generator, at ``rows`` rows (the demo run is thrown away)."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [rebalance, "demo", "--rows", str(rows), "--workdir", scratch, "--master", master],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        source.parent.mkdir(parents=True, exist_ok=True)
        Path(scratch, "input").rename(source)


def timed_run(
    rebalance: str, source: Path, master: str, condition: str, events: Path
) -> dict[str, float]:
    """One whole process; seconds from its start to Spark's start, first stage, open, end."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch, "output")
        environment = dict(os.environ)
        if condition != CONDITIONS[0]:
            environment["XDG_CACHE_HOME"] = str(Path(scratch, "empty-cache"))
        command = [
            *[rebalance, "run", "--input", str(source), "--output", str(output)],
            *["--factor", str(FACTOR), "--seed", str(SEED), "--master", master, "--quiet"],
            *["--set", "spark.conf.spark.eventLog.enabled=true"],
            *["--set", "spark.conf.spark.eventLog.rolling.enabled=false"],
            *["--set", "spark.conf.spark.eventLog.compress=false"],
            *["--set", f"spark.conf.spark.eventLog.dir={events.as_uri()}"],
        ]
        started = time.time()
        subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
        ended = time.time()
        application_start, first_stage = _event_times(next(events.iterdir()))
        report = json.loads((output / "_rebalance_report" / "report.json").read_text())
    return {
        "spark_started_s": round(application_start - started, 2),
        "first_stage_s": round(first_stage - started, 2),
        "open_s": report["timings_s"]["open"],
        "total_s": round(ended - started, 2),
    }


def _event_times(event_log: Path) -> tuple[float, float]:
    """When the application started and its first stage was submitted (epoch seconds)."""
    application_start = first_stage = None
    for line in event_log.read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        if event["Event"] == "SparkListenerApplicationStart":
            application_start = event["Timestamp"] / 1000
        if event["Event"] == "SparkListenerStageSubmitted" and first_stage is None:
            first_stage = event["Stage Info"]["Submission Time"] / 1000
    assert application_start is not None and first_stage is not None, event_log
    return application_start, first_stage


def markdown_table(runs: dict[str, list[dict[str, float]]], rows: int, master: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### Start-up: `rebalance run` on {rows:,} rows, {master}, "
        f"medians of {len(next(iter(runs.values())))} interleaved rounds ({stamp})",
        "",
        "| start | Spark started s | first stage s | open (first Delta read) s | whole run s |",
        "|---|---:|---:|---:|---:|",
    ]
    for condition, measured in runs.items():
        medians = {key: statistics.median(run[key] for run in measured) for key in measured[0]}
        lines.append(
            f"| {condition} | {medians['spark_started_s']:.1f} | {medians['first_stage_s']:.1f} "
            f"| {medians['open_s']:.1f} | {medians['total_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
