"""A small run of the benchmark harness, so it never rots (figures are printed, not asserted)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from run_bench import FEATURES, POSITIVE_SHARE, table_path

from rebalance_lib.demo import ensure_demo_input

pytestmark = [pytest.mark.jvm, pytest.mark.bench]

BENCH = Path(__file__).parents[1] / "bench" / "run_bench.py"
ROWS = 50_000  # the harness is under test here, not its figures: a small table will do


def test_bench_smoke_regenerates_results_with_every_method(
    spark: SparkSession, tmp_path: Path
) -> None:
    # The input made here, as the harness makes it, saves the harness a Spark start of its own.
    source = table_path(tmp_path / "data", ROWS)
    ensure_demo_input(spark, str(source), ROWS, POSITIVE_SHARE, seed=7, feature_count=FEATURES)
    results = tmp_path / "RESULTS.md"
    results.write_text("an older page, replaced in full\n")
    finished = subprocess.run(
        [
            *[sys.executable, str(BENCH), "--rows", str(ROWS), "--repeat", "1"],
            *["--data-dir", str(tmp_path / "data"), "--results", str(results)],
            *["--master", "local[2]", "--driver-memory", "1g"],
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    page = results.read_text()
    assert page == finished.stdout
    assert page.startswith("# Benchmark results") and "older page" not in page
    assert "Machine: " in page and "pyspark 4.2.0" in page and "delta-spark 4.4.0" in page
    rows_out = {
        cells[0]: int(cells[1].replace(",", ""))
        for line in page.split(f"## {ROWS:,} rows", 1)[1].splitlines()
        if line.startswith("| ") and not line.startswith("| method")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert set(rows_out) == {
        *["floor", "rebalance", "input-order", "one-pass", "naive", "duckdb", "polars"]
    }
    # Same seed, same partitions: the product's sample is exactly the hand-written sampleBy's,
    # in whichever row order.
    assert rows_out["rebalance"] == rows_out["naive"] == rows_out["one-pass"]
    assert rows_out["input-order"] == rows_out["rebalance"]
    assert "rebalance x input-order" in page
    # The peers do the same job: every positive and a tenth of the rest, within 5 sigma.
    positives = round(ROWS * 0.005)
    expected = positives + (ROWS - positives) / 10
    sigma = math.sqrt((ROWS - positives) * 0.1 * 0.9)
    for peer in ("duckdb", "polars"):
        assert abs(rows_out[peer] - expected) < 5 * sigma, (peer, rows_out[peer])
    assert "rebalance phases (its median run): open" in page
