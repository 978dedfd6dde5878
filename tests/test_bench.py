"""A small run of the benchmark harness, so it never rots (figures are printed, not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

BENCH = Path(__file__).parents[1] / "bench" / "run_bench.py"


def test_bench_smoke_prints_the_table_and_counts_source_scans(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    finished = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rows",
            "200000",
            "--data-dir",
            str(tmp_path / "data"),
            "--results",
            str(results),
            "--master",
            "local[2]",
            "--driver-memory",
            "1g",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = {
        cells[0]: cells
        for line in finished.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| method")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert set(rows) == {"floor", "naive", "rebalance"}
    assert {method: int(cells[-1]) for method, cells in rows.items()} == {
        "floor": 1,
        "naive": 2,
        "rebalance": 1,
    }
    # Same seed, same partitions: the product's sample is exactly the hand-written sampleBy's.
    assert rows["rebalance"][2] == rows["naive"][2]
    assert rows["rebalance"][0] in results.read_text()
