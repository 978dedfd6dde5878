"""Two writers onto one new output: the one that commits second says so in one line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conftest import labelled_df, start_writing, write_delta
from pyspark.sql import SparkSession

WINNER_ROWS = 500


def test_the_second_of_two_writers_onto_a_new_output_says_another_run_wrote_it_first(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 60_000, 600, partitions=24), tmp_path / "in")
    output = tmp_path / "out"
    loser = start_writing(source, output)
    os.killpg(loser.pid, signal.SIGSTOP)  # its data files are written, its commit not yet
    try:
        labelled_df(spark, WINNER_ROWS, 50).write.format("delta").save(str(output))
    finally:
        os.killpg(loser.pid, signal.SIGCONT)
    _, stderr = loser.communicate(timeout=300)
    lines = stderr.strip().splitlines()
    assert loser.returncode == 2, stderr
    assert lines[-1].startswith(f"rebalance: error: another run wrote {output} first"), lines[-1]
    assert "VACUUM" in lines[-1] and "Traceback" not in stderr
    assert spark.read.format("delta").load(str(output)).count() == WINNER_ROWS
