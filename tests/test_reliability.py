"""Faults lose nothing, and the hash sampler gives the same rows whatever the partitioning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import delta_writes, labelled_df, start_writing, write_delta
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from rebalance_lib import rebalance_table
from rebalance_lib.api import Written
from rebalance_lib.cli import main, run_configured
from rebalance_lib.config import load_config
from rebalance_lib.core.faults import FAULT_ENV
from rebalance_lib.report.model import Report

pytestmark = pytest.mark.jvm  # every test here starts Spark in a child process


@pytest.fixture(scope="module")
def big_source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Enough rows that a one-core run is still writing (eight files, one after another) when
    its first data file appears, and still counting when a signal follows its opening."""
    return write_delta(
        labelled_df(spark, 1_000_000, 10_000, partitions=8), tmp_path_factory.mktemp("big") / "src"
    )


def kill_during_write(source: str, output: Path, *extra: str) -> int:
    """Start `rebalance run`; kill its process group as soon as it has written a data file."""
    process = start_writing(source, output, "--set", "spark.conf.spark.ui.enabled=false", *extra)
    os.killpg(process.pid, signal.SIGKILL)
    return process.wait(timeout=60)


def test_killed_first_write_leaves_no_table_and_a_rerun_succeeds(
    spark: SparkSession, big_source: str, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    assert kill_during_write(big_source, output) == -signal.SIGKILL
    assert not DeltaTable.isDeltaTable(spark, str(output))
    small_source = write_delta(labelled_df(spark, 1_000, 100), tmp_path / "small")
    rerun = run_configured(
        spark,
        load_config(
            overrides={"input.source": small_source, "output.path": str(output), "target.factor": 2}
        ),
    )
    assert rerun.delta_version == 0
    assert spark.read.format("delta").load(str(output)).count() == rerun.report.output.rows


def test_killed_overwrite_leaves_the_previous_version_intact(
    spark: SparkSession, big_source: str, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    small_source = write_delta(labelled_df(spark, 1_000, 100), tmp_path / "small")
    run_configured(
        spark,
        load_config(
            overrides={"input.source": small_source, "output.path": str(output), "target.factor": 2}
        ),
    )
    rows_before = spark.read.format("delta").load(str(output)).count()
    version_before = DeltaTable.forPath(spark, str(output)).history(1).first()["version"]
    assert kill_during_write(big_source, output, "--mode", "overwrite") == -signal.SIGKILL
    assert DeltaTable.forPath(spark, str(output)).history(1).first()["version"] == version_before
    assert spark.read.format("delta").load(str(output)).count() == rows_before


def kept_ids(
    spark: SparkSession, source: str, output: Path, sampler: str, max_partition_bytes: str
) -> set[int]:
    spark.conf.set("spark.sql.files.maxPartitionBytes", max_partition_bytes)
    try:
        run_configured(
            spark,
            load_config(
                overrides={
                    "input.source": source,
                    "output.path": str(output),
                    "target.factor": 10,
                    "sample.method": sampler,
                    "sample.key": ["id"],
                    "sample.seed": 3,
                }
            ),
        )
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    return {
        row["id"] for row in spark.read.format("delta").load(str(output)).select("id").collect()
    }


def test_hash_sampler_keeps_the_same_rows_whatever_the_partitioning(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 200_000, 2_000, partitions=1), tmp_path / "src")
    few_splits = kept_ids(spark, source, tmp_path / "a", "hash", "128m")
    many_splits = kept_ids(spark, source, tmp_path / "b", "hash", "64k")
    assert few_splits == many_splits


def test_sample_by_changes_with_the_partitioning(spark: SparkSession, tmp_path: Path) -> None:
    """The finding behind the hash sampler: sampleBy draws per partition."""
    source = write_delta(labelled_df(spark, 200_000, 2_000, partitions=1), tmp_path / "src")
    few_splits = kept_ids(spark, source, tmp_path / "a", "sampleBy", "128m")
    many_splits = kept_ids(spark, source, tmp_path / "b", "sampleBy", "64k")
    assert few_splits != many_splits


@pytest.mark.parametrize(
    ("signal_number", "exit_code", "name"),
    [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_an_interrupted_run_says_in_one_line_what_it_committed(
    spark: SparkSession,
    big_source: str,
    tmp_path: Path,
    signal_number: int,
    exit_code: int,
    name: str,
) -> None:
    """Ctrl-C or a scheduler's SIGTERM while the input is counted: one line, its exit code, no
    trace, nothing committed and nothing left in the working directory."""
    workdir, stderr_file = tmp_path / "cwd", tmp_path / "stderr.txt"
    workdir.mkdir()
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        *["run", "--input", big_source, "--output", str(tmp_path / "out"), "--factor", "10"],
        *["--run-id", "nightly-7", "--master", "local[1]"],
    ]
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 300
        while "[open] opened" not in stderr_file.read_text():  # the input is read next
            assert process.poll() is None, stderr_file.read_text()[-2000:]
            assert time.monotonic() < deadline, "the run did not start within 300 s"
            time.sleep(0.05)
        process.send_signal(signal_number)
        assert process.wait(timeout=120) == exit_code, stderr_file.read_text()[-3000:]
    printed = stderr_file.read_text()
    assert "Traceback" not in printed
    last_line = printed.rstrip().splitlines()[-1].split("\r")[-1].lstrip()
    assert last_line.startswith(
        f"rebalance: interrupted by {name}: nothing of run nightly-7 was committed to"
    ), last_line
    assert list(workdir.iterdir()) == []
    assert not DeltaTable.isDeltaTable(spark, str(tmp_path / "out"))


def test_a_sigint_to_the_command_alone_during_a_first_write_leaves_no_files_behind(
    big_source: str, tmp_path: Path
) -> None:
    """Ctrl-C sent to the Python process only (not its JVM's group) while a new output is
    written: its cancelled tasks' files and Delta's staging folder are removed too."""
    output, stderr_file = tmp_path / "out", tmp_path / "stderr.txt"
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        *["run", "--input", big_source, "--output", str(output), "--factor", "1.01"],
        *["--master", "local[1]"],
    ]
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 300
        while not list(output.glob("part-*.parquet")):
            assert process.poll() is None, stderr_file.read_text()[-2000:]
            assert time.monotonic() < deadline, "no data file appeared within 300 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130, stderr_file.read_text()[-3000:]
    assert "was committed" in stderr_file.read_text().rstrip().splitlines()[-1]
    assert not output.exists(), sorted(output.rglob("*"))


def java_children(parent: int) -> list[int]:
    """The process ids of the JVMs this process started (Linux: read from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            parent_of_entry = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent_of_entry == parent and (entry / "comm").read_text().strip() == "java":
                children.append(int(entry.name))
        except (OSError, ValueError, IndexError):  # not a process, or gone meanwhile
            continue
    return children


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_stop_while_spark_starts_leaves_no_jvm_behind(tmp_path: Path) -> None:
    """SIGTERM while the driver's JVM is launched: the start is let finish, then the one line
    and 143; the JVM ends with the command (raised inside the launch, it lived on for good,
    holding the command's stderr open)."""
    stderr_file = tmp_path / "stderr.txt"
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        *["demo", "--output", str(tmp_path / "out"), "--master", "local[1]"],
    ]
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 300
        while not (jvms := java_children(process.pid)):
            assert process.poll() is None, stderr_file.read_text()[-2000:]
            assert time.monotonic() < deadline, "no JVM was launched within 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=120)
    deadline = time.monotonic() + 60
    while (alive := [jvm for jvm in jvms if Path(f"/proc/{jvm}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    for jvm in alive:  # the test's own leftover: ended before the test fails
        os.kill(jvm, signal.SIGKILL)
    printed = stderr_file.read_text()
    assert not alive, f"the JVM outlived the command: {printed[-2000:]}"
    assert exit_code == 143, printed[-2000:]
    assert printed.rstrip().splitlines()[-1] == (
        "rebalance: interrupted by SIGTERM: nothing was written"
    )


@pytest.mark.parametrize(
    ("fault", "exit_code"), [("after-data-commit:SIGTERM", 143), ("after-properties", 137)]
)
def test_a_retry_of_the_identical_command_finishes_the_run_without_a_second_commit(
    spark: SparkSession, tmp_path: Path, fault: str, exit_code: int
) -> None:
    """Stopped after its data commit (a scheduler's SIGTERM: one line names the version it
    committed), or killed before its report: the same command again (default --mode error,
    same --run-id) exits 0 with one data commit, the lineage properties and the report in
    place; once more, after a finished run, it still commits nothing. The retries run in
    this process, through the same `main` as the console script."""
    source = write_delta(labelled_df(spark, 20_000, 400), tmp_path / "in")
    output = tmp_path / "out"
    command = [
        str(Path(sys.executable).with_name("rebalance")),
        *["run", "--input", source, "--output", str(output), "--factor", "5"],
        *["--run-id", "airflow-try", "--master", "local[1]"],
    ]
    environment = {**os.environ, FAULT_ENV: fault}
    first = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    assert first.returncode == exit_code, first.stderr[-2000:]
    if exit_code == 143:
        assert "Traceback" not in first.stderr
        assert first.stderr.rstrip().splitlines()[-1] == (
            f"rebalance: interrupted by SIGTERM: run airflow-try committed its data to {output} "
            "as Delta version 0; its report may be missing"
        )
        history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
        assert [commit["operation"] for commit in history] == ["WRITE"]
    assert main(command[1:]) == 0
    assert main(command[1:]) == 0
    history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
    assert [commit["operation"] for commit in history].count("WRITE") == 1
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{output}`").first()
    assert detail is not None and detail["properties"]["rebalance.runId"] == "airflow-try"
    report = Report.model_validate_json((output / "_rebalance_report" / "report.json").read_text())
    assert report.run_id == "airflow-try" and report.checks_passed
    assert report.output.rows == spark.read.format("delta").load(str(output)).count()
    assert report.source.rows == 20_000


API_WRITE = """
import sys
from rebalance_lib import rebalance_table
from rebalance_lib.storage.session import build_session

spark = build_session("local[1]", "api-retry", {"spark.ui.enabled": "false"})
rebalance_table(spark, sys.argv[1], factor=5, sampler="hash", sample_key="id").write(
    sys.argv[2], run_id="api-try"
)
"""


def test_an_api_retry_after_the_source_grew_reads_the_version_its_first_attempt_read(
    spark: SparkSession, tmp_path: Path
) -> None:
    """`rebalance_table(...).write(out, run_id=R)` killed after its data commit; rows are
    appended to the source; the identical call again commits nothing and its report is that
    of the version the first attempt read, as `rebalance run`'s retry is."""
    source = write_delta(labelled_df(spark, 20_000, 400), tmp_path / "in")
    output = tmp_path / "out"
    api_write_killed_after_its_data_commit(source, output)
    labelled_df(spark, 5_000, 100).write.format("delta").mode("append").save(source)
    retried = api_write(spark, source, output)
    assert retried.skipped_as_repeat and retried.report is not None
    assert retried.report.source.delta_version == 0 and retried.report.source.rows == 20_000
    history = spark.sql(f"DESCRIBE HISTORY delta.`{output}`").collect()
    assert [commit["operation"] for commit in history].count("WRITE") == 1
    [first_commit] = [commit["version"] for commit in history if commit["operation"] == "WRITE"]
    on_disk = Report.model_validate_json((output / "_rebalance_report" / "report.json").read_text())
    assert on_disk.run_id == "api-try" and on_disk.source.rows == 20_000
    assert on_disk.output.rows == spark.read.format("delta").load(str(output)).count()

    # Finished now, and the source is newer: the same call redoes the run from version 1,
    # replacing what it wrote (its mode, error, created the table), in a commit that says so.
    redone = api_write(spark, source, output)
    assert not redone.skipped_as_repeat and redone.report is not None
    assert redone.report.source.delta_version == 1 and redone.report.source.rows == 25_000
    output_df = spark.read.format("delta").load(str(output))
    assert (
        output_df.filter("label = 1").count()
        == 500
        == redone.report.output.rows - (output_df.filter("label = 0").count())
    )
    assert delta_writes(spark, output) == [(0, None), (1, first_commit)]
    # Finished from the newest version: nothing to do.
    repeated = api_write(spark, source, output)
    assert repeated.skipped_as_repeat and len(delta_writes(spark, output)) == 2

    # A redo killed after its data commit is again the first case: its retry commits nothing
    # and reports the version the redo read.
    labelled_df(spark, 5_000, 100).write.format("delta").mode("append").save(source)
    api_write_killed_after_its_data_commit(source, output)
    finished = api_write(spark, source, output)
    assert finished.skipped_as_repeat and finished.report is not None
    assert finished.report.source.delta_version == 2 and finished.report.source.rows == 30_000
    assert delta_writes(spark, output)[2][0] == 2 and len(delta_writes(spark, output)) == 3


def api_write(spark: SparkSession, source: str, output: Path) -> Written:
    """The call ``API_WRITE`` makes, in this process."""
    return rebalance_table(spark, source, factor=5, sampler="hash", sample_key="id").write(
        str(output), run_id="api-try"
    )


def api_write_killed_after_its_data_commit(source: str, output: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", API_WRITE, source, str(output)],
        env={**os.environ, FAULT_ENV: "after-data-commit"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == 137, killed.stderr[-2000:]
