"""Batches of consecutive rows in file order, as a streaming loader reads the output."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyspark.sql.functions as F
import pytest
from conftest import SIGMAS, run_rebalance, write_delta
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.batches import BatchCounts
from rebalance_lib.core.tables import Table
from rebalance_lib.report.model import FileOrderSection, Report
from rebalance_lib.storage import delta_sql
from rebalance_lib.transforms.batches import batch_histograms, file_batch_histograms

ROWS, MINORITY, FACTOR, BATCH = 100_000, 2_000, 5, 128


def clustered_source(spark: SparkSession, files: int) -> DataFrame:
    """``ROWS`` rows whose ``MINORITY`` positives are stored together at the end: in one
    file (``files=1``), or in files of their own after the negatives' (``files=4``)."""
    rows_df = (
        spark.range(ROWS)
        .withColumn("label", (F.col("id") >= ROWS - MINORITY).cast("int"))
        .withColumn("x", (F.col("id") % 97).cast("double"))
    )
    return rows_df.repartitionByRange(files, "id").sortWithinPartitions("id")


def column_in_file_order(output: Path, name: str = "label") -> list[int]:
    """The label (or another) column as delta-rs lists the files and Parquet stores the rows."""
    files = DeltaTable(str(output)).file_uris()
    columns = [pq.read_table(file, columns=[name])[name] for file in files]
    return pa.chunked_array([chunk for column in columns for chunk in column.chunks]).to_pylist()


def minority_per_batch(labels: list[int]) -> list[int]:
    full = len(labels) // BATCH
    return [sum(labels[b * BATCH : (b + 1) * BATCH]) for b in range(full)]


def random_order_bound(counts: list[int], share: float) -> float:
    """The largest variance of per-batch counts a random order gives but with a chance of
    about one in two million: the binomial's variance plus SIGMAS standard errors of a
    variance estimated from this many batches."""
    variance = BATCH * share * (1 - share)
    fourth = variance * (1 + 3 * (BATCH - 2) * share * (1 - share))
    return variance + SIGMAS * math.sqrt((fourth - variance**2) / len(counts))


def variance(counts: list[int]) -> float:
    mean = sum(counts) / len(counts)
    return sum((c - mean) ** 2 for c in counts) / len(counts)


def reported_minority(report: Report | None) -> FileOrderSection:
    assert report is not None
    [minority] = [c for c in report.batch.file_order if c.label == 1]
    return minority


def assert_report_reads_as_the_files(section: FileOrderSection, counts: list[int]) -> None:
    histogram: dict[int, int] = {}
    for count in counts:
        histogram[count] = histogram.get(count, 0) + 1
    expected = BatchCounts(1, BATCH, sum(counts), len(counts) * BATCH, histogram)
    assert section.batches == len(counts)
    assert section.mean == pytest.approx(sum(counts) / len(counts))
    assert section.variance == pytest.approx(variance(counts))
    assert section.share_without == pytest.approx(counts.count(0) / len(counts))
    assert (section.p5, section.p50, section.p95) == (
        expected.quantile(0.05),
        expected.quantile(0.5),
        expected.quantile(0.95),
    )


IN_PLACE = "; rows ordered within the "


def mixed_source(spark: SparkSession, files: int) -> DataFrame:
    """``ROWS`` rows in ``files`` files, each stored in id order, whose positives (about one
    in fifty) are placed by a hash of the id: every file holds the classes in the table's
    shares, up to chance."""
    rows_df = (
        spark.range(ROWS)
        .withColumn("label", (F.abs(F.xxhash64("id")) % 50 == 0).cast("int"))
        .withColumn("x", (F.col("id") % 97).cast("double"))
    )
    return rows_df.repartitionByRange(files, "id").sortWithinPartitions("id")


@pytest.mark.parametrize(
    ("files", "in_place"),
    [(1, True), (4, False)],
    ids=["inside-one-file", "across-files"],
)
def test_the_default_order_makes_every_batch_a_random_draw(
    spark: SparkSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    files: int,
    in_place: bool,
) -> None:
    """Positives stored together: inside one file (one task, whose rows are ordered where
    they are), or in files of their own (the classes are not mixed across the tasks, so the
    rows are shuffled between them)."""
    source = write_delta(clustered_source(spark, files), tmp_path / "in")
    with caplog.at_level(logging.INFO, logger="rebalance_lib"):
        written = run_rebalance(spark, source, tmp_path / "out", **{"target.factor": FACTOR})
    assert (IN_PLACE in caplog.text) is in_place
    labels = column_in_file_order(tmp_path / "out")
    counts = minority_per_batch(labels)
    share = sum(labels) / len(labels)
    assert variance(counts) <= random_order_bound(counts, share), variance(counts)
    # Random batches of 128 at this share almost never lack the minority: (1 - p)^128 ~ 1e-5.
    assert counts.count(0) <= 1, counts.count(0)
    section = reported_minority(written.report)
    assert_report_reads_as_the_files(section, counts)
    assert not section.worse_than_random
    assert written.report is not None and written.report.batch.row_order == "shuffled"
    # The same seed, input and settings give the same order.
    again = run_rebalance(spark, source, tmp_path / "again", **{"target.factor": FACTOR})
    assert again.report is not None
    assert column_in_file_order(tmp_path / "again") == labels


def test_classes_mixed_across_the_inputs_files_are_ordered_in_place_without_a_shuffle(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each file already holds the classes in the table's shares, but in id order: the rows
    stay in the tasks that read them (one output file per task) and are ordered within each,
    and the batches are as random as a shuffle's."""
    source = write_delta(mixed_source(spark, 4), tmp_path / "in")
    with caplog.at_level(logging.INFO, logger="rebalance_lib"):
        written = run_rebalance(spark, source, tmp_path / "out", **{"target.factor": FACTOR})
    assert IN_PLACE in caplog.text
    # Spark packs small files into fewer tasks: each task read writes one file.
    found = re.search(r"rows ordered within the (\d+) tasks that read them", caplog.text)
    assert found is not None and int(found.group(1)) >= 2, caplog.text
    assert len(DeltaTable(str(tmp_path / "out")).file_uris()) == int(found.group(1))
    labels = column_in_file_order(tmp_path / "out")
    counts = minority_per_batch(labels)
    share = sum(labels) / len(labels)
    assert variance(counts) <= random_order_bound(counts, share), variance(counts)
    section = reported_minority(written.report)
    assert_report_reads_as_the_files(section, counts)
    assert not section.worse_than_random
    # Not the input's order: within each file the rows are no longer in id order.
    ids = column_in_file_order(tmp_path / "out", "id")
    ascending = sum(1 for earlier, later in itertools.pairwise(ids) if later > earlier)
    assert ascending < 0.6 * len(ids), ascending
    again = run_rebalance(spark, source, tmp_path / "again", **{"target.factor": FACTOR})
    assert again.report is not None
    assert column_in_file_order(tmp_path / "again") == labels


def test_the_input_order_switch_keeps_the_inputs_runs_and_the_report_says_so(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = write_delta(clustered_source(spark, 1), tmp_path / "in")
    written = run_rebalance(
        spark,
        source,
        tmp_path / "out",
        **{"target.factor": FACTOR, "output.row_order": "input"},
    )
    labels = column_in_file_order(tmp_path / "out")
    counts = minority_per_batch(labels)
    assert labels == sorted(labels)  # the positives still together, at the end
    assert counts.count(0) > len(counts) * 0.8
    section = reported_minority(written.report)
    assert_report_reads_as_the_files(section, counts)
    assert section.worse_than_random
    assert written.report is not None
    assert any("far less evenly than random" in line for line in written.report.advice)


def test_a_layout_by_the_label_is_warned_of(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_delta(clustered_source(spark, 1), tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="rebalance_lib"):
        written = run_rebalance(
            spark,
            source,
            tmp_path / "out",
            **{"target.factor": FACTOR, "output.partition_by": ["label"]},
        )
    assert "the output is partitioned by the label 'label'" in caplog.text
    assert reported_minority(written.report).worse_than_random
    # The label is in the files' paths, not in them: the batches are placed in two reads.
    output = Table(str(tmp_path / "out"))
    files = delta_sql.commit_added_files(spark, output, 0)
    assert files and not delta_sql.rows_readable_from_files(spark, output, files, "label")


def test_a_partitioned_output_is_shuffled_within_each_partition(
    spark: SparkSession, tmp_path: Path
) -> None:
    source_df = clustered_source(spark, 1).withColumn("day", (F.col("id") % 2).cast("string"))
    source = write_delta(source_df, tmp_path / "in")
    run_rebalance(
        spark,
        source,
        tmp_path / "out",
        **{"target.factor": FACTOR, "output.partition_by": ["day"]},
    )
    all_files = DeltaTable(str(tmp_path / "out")).file_uris()
    # One read by the files' row index and two by the chunks a task read place each row
    # alike, and as delta-rs lists the files.
    output = Table(str(tmp_path / "out"))
    files = delta_sql.commit_added_files(spark, output, 0)
    assert files and delta_sql.rows_readable_from_files(spark, output, files, "label")
    by_row_index = file_batch_histograms(spark, files, "label", [0, 1], BATCH)
    version_df = delta_sql.read_version(spark, output, 0)
    by_chunks = batch_histograms(version_df, [f.name for f in files], "label", [0, 1], BATCH)
    assert by_row_index == by_chunks
    labels = [
        label.as_py()
        for file in all_files
        for label in pq.read_table(file, columns=["label"])["label"]
    ]
    minority_counts = minority_per_batch(labels)
    assert by_row_index[0][1] == {
        count: minority_counts.count(count) for count in set(minority_counts)
    }
    for day in ("0", "1"):
        files = [file for file in all_files if f"/day={day}/" in file]
        assert files
        labels = [
            label for file in files for label in pq.read_table(file, columns=["label"])["label"]
        ]
        counts = minority_per_batch([label.as_py() for label in labels])
        share = sum(counts) / (len(counts) * BATCH)
        assert variance(counts) <= random_order_bound(counts, share), (day, variance(counts))


def test_a_run_of_many_groups_and_its_batch_figures_need_no_python_on_the_executors(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Executors need nothing but Spark: with no Python for them to start, a run of 194
    groups (97 strata of two classes: its plan a joined table, not a CASE), its order, write
    and batches read in file order still succeeds."""
    source = write_delta(clustered_source(spark, 4), tmp_path / "in")
    finished = subprocess.run(
        [
            str(Path(sys.executable).with_name("rebalance")),
            *["run", "--input", source, "--output", str(tmp_path / "out")],
            *["--factor", str(FACTOR), "--strata", "x", "--master", "local[2]", "--quiet"],
        ],
        env={**os.environ, "PYSPARK_PYTHON": "/nonexistent/python"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "_rebalance_report" / "report.json").read_text())
    assert [c["label"] for c in report["batch"]["file_order"]] == [0, 1]
    assert report["strata"]["strata_planned"] == 97 and report["checks_passed"]
