"""The `rebalance` command as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import labelled_df, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.cli import main

pytestmark = pytest.mark.jvm  # every test here starts Spark in a child process


def test_plan_prints_counts_and_plan_and_writes_nothing(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_delta(labelled_df(spark, 10_100, 100), tmp_path / "in")
    before = sorted(tmp_path.rglob("*"))
    assert main(["plan", "--input", source, "--target-ratio", "20"]) == 0
    text = capsys.readouterr().out
    assert "target ratio 20:1 (majority:minority); factor 5" in text
    assert "A batch of 128 holds about 1.3 minority rows unchanged and 6.1 after." in text
    assert main(["plan", "--input", source, "--target-ratio", "20", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert sorted(tmp_path.rglob("*")) == before
    assert plan["rows_before"] == 10_100
    assert plan["factor"] == pytest.approx(5)
    assert plan["expected_rows_after"] == pytest.approx(2_100)
    assert plan["minority_per_batch_after"] == pytest.approx(128 / 21)
    assert [c["rows_before"] for c in plan["classes"]] == [10_000, 100]


def test_overwrite_keeps_the_old_version_and_append_is_idempotent_per_run_id(
    spark: SparkSession, tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 10_000, 100), tmp_path / "in")
    output = str(tmp_path / "out")
    common = ["run", "--input", source, "--output", output, "--factor", "5"]
    assert main([*common, "--run-id", "a"]) == 0
    first_rows = spark.read.format("delta").load(output).count()
    assert main([*common, "--mode", "overwrite", "--seed", "7", "--run-id", "b"]) == 0
    assert spark.read.format("delta").option("versionAsOf", 0).load(output).count() == first_rows
    assert main([*common, "--mode", "append", "--run-id", "c"]) == 0
    rows_after_append = spark.read.format("delta").load(output).count()
    assert main([*common, "--mode", "append", "--run-id", "c"]) == 0
    assert spark.read.format("delta").load(output).count() == rows_after_append


def test_console_script_runs_the_demo_end_to_end(tmp_path: Path) -> None:
    rebalance = Path(sys.executable).with_name("rebalance")
    event_log = tmp_path / "events"
    event_log.mkdir()
    finished = subprocess.run(
        [
            str(rebalance),
            "demo",
            "--rows",
            "60000",
            "--workdir",
            str(tmp_path),
            "--master",
            "local[1]",
            "--set",
            "spark.conf.spark.ui.enabled=false",
            "--set",
            "spark.conf.spark.eventLog.enabled=true",
            "--set",
            f"spark.conf.spark.eventLog.dir={event_log}",
            "--set",
            "spark.conf.spark.eventLog.compress=false",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Prediction-bias check**: **PASS**" in finished.stdout
    assert (tmp_path / "output" / "_delta_log").is_dir()
    assert (tmp_path / "output" / "_rebalance_report" / "report.json").is_file()
    events = [  # Spark 4 rolls its event log: a folder of files per application
        json.loads(line)
        for log in sorted(event_log.rglob("events_*"))
        for line in log.read_text().splitlines()
    ]
    source, output = tmp_path / "input", tmp_path / "output"
    started = next(e for e in events if e["Event"] == "SparkListenerApplicationStart")
    assert started["App Name"] == f"rebalance {source} -> {output}"
    descriptions = [
        e["Properties"].get("spark.job.description")
        for e in events
        if e["Event"] == "SparkListenerJobStart"
    ]
    unnamed = [d for d in descriptions if not (d or "").startswith(("rebalance: ", "Delta: "))]
    assert not unnamed, unnamed
    for phase in (
        f"rebalance: generate the demo table {source}",
        f"rebalance: count classes of 'label' in {source} @ v1",  # v1: the demo's properties
        f"rebalance: sample and write {output} (factor 10)",
        f"rebalance: count each class per batch of 128 of {output} in file order",
    ):
        assert phase in descriptions, (phase, "\n".join(sorted(set(map(str, descriptions)))))


def test_a_scheduler_gets_json_lines_and_quiet_keeps_only_the_result(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--log-format json`: every line of ours a JSON object, the result line on stdout;
    `--quiet` drops the progress lines; a bad option is still one JSON error line. A plain run
    is the console script in a process of its own, so nothing of Spark's start or of the JAR
    resolver can hide; the others are the same `main` in this process, on the suite's session."""
    source = write_delta(labelled_df(spark, 4_000, 100), tmp_path / "in")

    def run_here(*flags: str) -> tuple[int, str, str]:
        capsys.readouterr()  # what came before is not this run's
        exit_code = main(["run", "--input", source, *flags])
        printed = capsys.readouterr()
        return exit_code, printed.out, printed.err

    def ours(stderr: str) -> list[dict[str, str]]:
        return [json.loads(line) for line in stderr.splitlines()]  # each line JSON, or this fails

    exit_code, stdout, stderr = run_here(
        "--output", str(tmp_path / "a"), "--factor", "5", "--log-format", "json"
    )
    assert exit_code == 0, stderr[-2000:]
    result = json.loads(stdout)  # the report page is left to the report files
    assert result["level"] == "info"
    assert result["message"].startswith(f"output {tmp_path / 'a'}: data committed as Delta")
    phases = [entry["message"] for entry in ours(stderr)]
    assert any(message.startswith("[sample_write] sampled and wrote") for message in phases), phases

    plain = subprocess.run(
        [
            str(Path(sys.executable).with_name("rebalance")),
            *["run", "--input", source, "--output", str(tmp_path / "plain")],
            *["--factor", "5", "--master", "local[1]"],
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr[-2000:]
    printed = plain.stdout.splitlines() + plain.stderr.splitlines()
    assert len(printed) <= 40, "\n".join(printed)  # a plain run fits on one screen
    progress = [line for line in plain.stderr.splitlines() if "incubator" not in line]
    assert [line.split("]")[0] for line in progress] == [
        "rebalance: [open",
        "rebalance: [profile",
        "rebalance: [sample_write",
        "rebalance: [batches",
    ], progress  # one line per phase, and nothing of Spark's or the JAR resolver's
    assert "pinned at version 0" in progress[0] and "4,000 rows in 2 classes" in progress[1]

    exit_code, stdout, stderr = run_here(
        "--output", str(tmp_path / "b"), "--factor", "5", "--quiet"
    )
    assert exit_code == 0, stderr[-2000:]
    [result_line] = stdout.splitlines()  # no report page: the result line alone
    assert result_line.startswith(f"rebalance: output {tmp_path / 'b'}: data committed")
    assert stderr == ""

    exit_code, _, stderr = run_here(
        "--output", str(tmp_path / "c"), "--factor", "0.5", "--log-format", "json"
    )
    assert exit_code == 2
    [error] = ours(stderr)
    assert error["level"] == "error" and error["message"].startswith("error: factor must be")
    assert not (tmp_path / "c").exists()
