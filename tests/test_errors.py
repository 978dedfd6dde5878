"""Bad input: one clear line naming the fix, a non-zero exit, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, write_delta
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.api import rebalance_table
from rebalance_lib.cli import main
from rebalance_lib.core.errors import InputError
from rebalance_lib.storage.failures import storage_failure, unknown_failure


@pytest.fixture(scope="module")
def tables(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    good_df = labelled_df(spark, 2_000, 100)
    return {
        "good": write_delta(good_df, root / "good"),
        "float_label": write_delta(
            good_df.withColumn("label", F.col("label").cast("double") + 0.5), root / "fl"
        ),
        "null_label": write_delta(
            good_df.withColumn(
                "label", F.when(F.col("id") % 500 == 1, None).otherwise(F.col("label"))
            ),
            root / "nl",
        ),
        "one_class": write_delta(good_df.withColumn("label", F.lit(0)), root / "one"),
        "one_minority_row": write_delta(labelled_df(spark, 2_000, 1), root / "one_minority"),
        "empty": write_delta(good_df.limit(0), root / "empty"),
        "bad_weights": write_delta(
            good_df.withColumn(
                "w",
                F.when(F.col("id") == 3, None)
                .when(F.col("id") == 4, float("nan"))
                .when(F.col("id") == 5, -1.0)
                .when(F.col("id") == 6, 0.0)
                .when(F.col("id") == 7, float("inf"))
                .otherwise(1.0),
            ),
            root / "bw",
        ),
        "overwritten": _overwritten(good_df, root / "overwritten"),
        "missing_file": _missing_a_file(good_df, root / "missing_file"),
        "csv": _csv_folder(root / "csv"),
        "parquet": str(root / "pq"),
        "root": str(root),
    }


def _overwritten(good_df: DataFrame, path: Path) -> str:
    """A Delta table whose second version removed the first's files (still in its folder)."""
    write_delta(good_df, path)
    good_df.write.format("delta").mode("overwrite").save(str(path))
    return str(path)


def _missing_a_file(good_df: DataFrame, path: Path) -> str:
    """A Delta table one of whose data files was deleted behind its log's back."""
    write_delta(good_df.repartition(2), path)
    sorted(path.glob("part-*.parquet"))[0].unlink()
    return str(path)


def _csv_folder(path: Path) -> str:
    path.mkdir()
    (path / "part-0.csv").write_text("id,label\n1,0\n2,1\n")
    return str(path)


def rebalance(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    exit_code = main(list(args))
    stderr_lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    return exit_code, stderr_lines[-1] if stderr_lines else ""


# Flags of a one-pass run; the checks it cannot make before writing fail the write or undo it.
ONE_PASS = {"--set": "sample.one_pass=true", "--minority": "1", "--classes": "0,1"}

CASES = [
    ("missing input", {"--input": "{root}/nope"}, "does not exist"),
    ("parquet given as delta", {"--input": "{parquet}"}, "--input-format parquet"),
    (
        "delta given as parquet",
        {"--input": "{overwritten}", "--input-format": "parquet"},
        "is a Delta table (it holds a _delta_log): read as loose files it would include rows its "
        "later versions removed; read it as Delta [--input-format delta]",
    ),
    (
        "a data file missing",
        {"--input": "{missing_file}"},
        "from the table with FSCK REPAIR TABLE and rerun",
    ),
    (
        "csv given as parquet",
        {"--input": "{csv}", "--input-format": "parquet"},
        "holds a file that is not Parquet (file:{csv}/part-0.csv): its footer cannot be read; "
        "state the input's format, or remove the files of other formats [--input-format]",
    ),
    ("missing label", {"--input": "{good}", "--label": "y"}, "label column 'y' not found"),
    ("float label", {"--input": "{float_label}"}, "not whole numbers (0.5, 1.5)"),
    (
        "null labels",
        {"--input": "{null_label}"},
        "or drop them (the report counts them) [--null-labels drop]",
    ),
    ("single class", {"--input": "{one_class}"}, "single class"),
    ("empty table", {"--input": "{empty}"}, "no rows"),
    (
        "minority not present",
        {"--input": "{good}", "--minority": "7"},
        "minority '7' is not a label value of the input (present: 0, 1) [--minority]",
    ),
    (
        "a class that could come out empty",
        {"--input": "{one_minority_row}", "--factor": "1000"},
        "would keep about 2.0 of its 1,999 rows and could come out empty",
    ),
    (
        "factor below one",
        {"--input": "{good}", "--factor": "0.5"},
        "factor must be at least 1 (got 0.5): it divides the majority; factor 1 keeps every "
        "row [--factor]",
    ),
    ("weight column missing", {"--input": "{good}", "--input-weight-col": "w"}, "'w' not found"),
    (
        "bad weights",
        {"--input": "{bad_weights}", "--input-weight-col": "w"},
        "5 rows have a null, zero",
    ),
    ("output is the input", {"--input": "{good}", "--output": "{good}"}, "overlaps the input"),
    (
        "a path as a table name",
        {"--input": "{good}", "--input-format": "table"},
        "is not a table name: read a path as Delta or Parquet [--input-format delta]",
    ),
    (
        "a table output without a name",
        {"--input": "{good}", "--output": "table:", "--run-id": "r-1"},
        "the output is empty: name the Delta path (or table:DB.NAME) to write [--output]",
    ),
    (
        "empty output",
        {"--input": "{good}", "--output": ""},
        "the output is empty: name the Delta path (or table:DB.NAME) to write [--output]",
    ),
    (
        "output inside the input",
        {"--input": "{good}", "--output": "{good}/sub"},
        "overlaps the input",
    ),
    ("output exists", {"--input": "{good}", "--output": "{one_class}"}, "--mode overwrite"),
    ("input version missing", {"--input": "{good}", "--input-version": "9"}, "is at version 0"),
    (
        "one pass without classes",
        {"--input": "{good}", "--set": "sample.one_pass=true", "--minority": "1"},
        "one pass needs a factor, the minority label and every class",
    ),
    (
        "one pass, label not listed",
        {"--input": "{good}", **ONE_PASS, "--classes": "1,2"},
        "not in the stated classes (1, 2)",
    ),
    ("one pass, null labels", {"--input": "{null_label}", **ONE_PASS}, "--null-labels drop"),
    (
        "one pass, bad weights",
        {"--input": "{bad_weights}", "--input-weight-col": "w", **ONE_PASS},
        "infinite weight in 'w'",
    ),
    (
        "one pass, empty table",
        {"--input": "{empty}", **ONE_PASS},
        "none or only one of the stated classes",
    ),
    ("one pass, single class", {"--input": "{one_class}", **ONE_PASS}, "[--classes]"),
    (
        "one pass, more classes than it observes",
        {"--input": "{good}", **ONE_PASS, "--classes": ",".join(map(str, range(40)))},
        "at most 32 classes (got 40): run in two passes",
    ),
]


@pytest.mark.parametrize(("case", "flags", "fix"), CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_fails_cleanly_and_writes_nothing(
    spark: SparkSession,
    tables: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    flags: dict[str, str],
    fix: str,
) -> None:
    if case == "parquet given as delta" and not Path(tables["parquet"]).exists():
        labelled_df(spark, 100, 10).write.parquet(tables["parquet"])
    arguments = {"--output": str(tmp_path / "out"), "--factor": "2"} | {
        flag: value.format(**tables) for flag, value in flags.items()
    }
    before = {p: sorted(Path(p).rglob("*")) for p in tables.values() if Path(p).exists()}
    exit_code, line = rebalance(
        capsys, "run", *[item for pair in arguments.items() for item in pair]
    )
    assert exit_code == 2
    assert line.startswith("rebalance: error: ") and fix.format(**tables) in line, line
    assert not (tmp_path / "out").exists()
    after = {p: sorted(Path(p).rglob("*")) for p in tables.values() if Path(p).exists()}
    assert after == before


def test_unknown_config_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "job.yaml"
    config_file.write_text("output:\n  modes: overwrite\n")
    exit_code, line = rebalance(capsys, "run", "--config", str(config_file))
    assert exit_code == 2
    assert "unknown key 'output.modes'" in line


def test_null_labels_can_be_dropped_and_are_counted(
    spark: SparkSession, tables: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    exit_code = main(
        [
            "run",
            "--input",
            tables["null_label"],
            "--output",
            str(output),
            "--factor",
            "2",
            "--null-labels",
            "drop",
        ]
    )
    assert exit_code == 0
    output_df = spark.read.format("delta").load(str(output))
    assert output_df.filter(F.col("label").isNull()).count() == 0
    report_text = (output / "_rebalance_report" / "report.md").read_text()
    assert "4 null-label rows dropped" in report_text


def test_a_parquet_catalog_table_over_a_delta_folder_is_refused(
    spark: SparkSession, tables: dict[str, str]
) -> None:
    spark.sql("DROP TABLE IF EXISTS parquet_over_delta")
    spark.sql(f"CREATE TABLE parquet_over_delta USING parquet LOCATION '{tables['overwritten']}'")
    try:
        with pytest.raises(InputError, match=r"holds a _delta_log.*\[input_format='delta'\]"):
            rebalance_table(spark, "parquet_over_delta", input_format="table", factor=2)
    finally:
        spark.sql("DROP TABLE parquet_over_delta")


def test_a_spark_failure_rebalance_does_not_know_is_named_by_its_condition(
    spark: SparkSession,
) -> None:
    failures = []
    for session_sql in (spark.sql, spark._jsparkSession.sql):  # pyspark's error, then py4j's
        with pytest.raises(Exception) as raised:
            session_sql("SELECT raise_error('boom')").collect()
        failures.append(raised.value)
    assert [unknown_failure(failure) for failure in failures] == ["USER_RAISED_EXCEPTION"] * 2
    assert [storage_failure(failure, "/in", "/out") for failure in failures] == [None, None]
    assert unknown_failure(ValueError("not Spark's")) is None
