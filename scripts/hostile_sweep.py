"""A hostile sweep of `rebalance run` over odd options and input shapes, in one process.

Every case must end in exit 0, 2 or 4 with no traceback; a run that wrote a table must report
the rows the table holds, per class and per stratum or split. Prints one line per case and a
summary; exits 1 when any case broke the promise.

    .venv/bin/python scripts/hostile_sweep.py [WORKDIR]
"""

from __future__ import annotations

import io
import math
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from itertools import count
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.cli import main
from rebalance_lib.core.keys import group_key, shown
from rebalance_lib.report.model import Report
from rebalance_lib.storage.session import build_session

CONF = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}
Case = tuple[str, list[str]]


def shapes(spark: SparkSession, root: Path) -> dict[str, str]:
    """The inputs: a plain table and the shapes a hostile user hands over."""
    base_df = (
        spark.range(0, 4_000, 1, 2)
        .withColumn("label", (F.col("id") % 20 == 0).cast("int"))
        .withColumn(
            "f",
            F.element_at(
                F.array(
                    F.lit(0.0), F.lit(-0.0), F.lit(1.0), F.lit(math.nan), F.lit(None).cast("double")
                ),
                (F.col("id") % 5 + 1).cast("int"),
            ),
        )
        .withColumn(
            "s",
            F.element_at(
                F.array(F.lit("a"), F.lit("None"), F.lit(None)), (F.col("id") % 3 + 1).cast("int")
            ),
        )
        .withColumn("w", (F.col("id") % 3 + 1).cast("double"))
    )

    def delta(name: str, rows_df: DataFrame) -> str:
        rows_df.write.format("delta").save(str(root / name))
        return str(root / name)

    paths = {
        "good": delta("good", base_df),
        "string_label": delta(
            "string_label", base_df.withColumn("label", F.col("label").cast("string"))
        ),
        "bool_label": delta("bool_label", base_df.withColumn("label", F.col("label") == 1)),
        "three_classes": delta("three", base_df.withColumn("label", F.col("id") % 7 % 3)),
        "null_labels": delta(
            "null_labels",
            base_df.withColumn(
                "label", F.when(F.col("id") % 100 == 1, None).otherwise(F.col("label"))
            ),
        ),
        "nan_label": delta(
            "nan_label",
            base_df.withColumn(
                "label", F.when(F.col("id") == 3, math.nan).otherwise(F.col("label").cast("double"))
            ),
        ),
        "one_class": delta("one_class", base_df.withColumn("label", F.lit(0))),
        "empty": delta("empty", base_df.limit(0)),
        "tiny": delta("tiny", base_df.limit(3)),
        "dotted": delta("dotted", base_df.withColumnRenamed("label", "y.label")),
    }
    base_df.write.format("delta").mode("overwrite").save(paths["good"] + "_over")
    base_df.write.format("delta").mode("overwrite").save(paths["good"] + "_over")
    paths["overwritten"] = paths["good"] + "_over"
    base_df.write.parquet(str(root / "parquet"))
    paths["parquet"] = str(root / "parquet")
    (root / "csv").mkdir()
    (root / "csv" / "a.csv").write_text("id,label\n1,0\n")
    paths["csv"] = str(root / "csv")
    paths["missing_file"] = delta("missing_file", base_df)
    next((root / "missing_file").glob("part-*.parquet")).unlink()
    (root / "a_file").write_text("not a folder")
    paths["a_file"] = str(root / "a_file")
    return paths


def cases(paths: dict[str, str]) -> Iterator[Case]:
    good = ["--input", paths["good"]]
    for factor in ("5", "1", "1.5", "0.5", "0", "-3", "nan", "inf", "abc", "1e9", ""):
        yield f"factor {factor!r}", [*good, "--factor", factor]
    for flags in (
        ["--target-ratio", "3"],
        ["--target-ratio", "0"],
        ["--target-minority-share", "0.3"],
        ["--target-minority-share", "0.7"],
        ["--min-minority-per-batch", "20"],
        ["--max-rows", "500"],
        ["--max-rows", "0"],
        ["--factor", "5", "--max-rows", "5"],
        [],
        ["--factor", "5", "--batch-size", "0"],
        ["--factor", "5", "--seed", "-1"],
        ["--factor", "5", "--seed", str(2**64)],
        ["--factor", "5", "--minority", "7"],
        ["--factor", "5", "--minority", "0"],
        ["--factor", "5", "--label", ""],
        ["--factor", "5", "--label", "nope"],
        ["--factor", "5", "--weight-col", "id"],
        ["--factor", "5", "--input-weight-col", "w"],
        ["--factor", "5", "--input-weight-col", "s"],
        ["--factor", "5", "--strata", "label,f"],
        ["--factor", "5", "--strata", "label,s"],
        ["--factor", "5", "--strata", "label,f,s"],
        ["--factor", "5", "--strata", "nope"],
        ["--factor", "5", "--split-col", "f", "--train-value", "nan"],
        ["--factor", "5", "--split-col", "s", "--train-value", "None"],
        ["--factor", "5", "--split-col", "s", "--train-value", "zzz"],
        ["--factor", "5", "--exact"],
        ["--factor", "5", "--exact", "--sample-key", "id"],
        ["--factor", "5", "--exact", "--strata", "label,f", "--sample-key", "id"],
        ["--factor", "5", "--sampler", "hash"],
        ["--factor", "5", "--sampler", "hash", "--sample-key", "f"],
        ["--factor", "5", "--sampler", "bogus"],
        ["--factor", "5", "--weight-basis", "realized"],
        ["--factor", "5", "--exact", "--weight-basis", "realized", "--sample-key", "id"],
        ["--factors", "2,4", "--sampler", "hash", "--sample-key", "id"],
        ["--factors", "4,x", "--sampler", "hash", "--sample-key", "id"],
        ["--factor", "5", "--set", "sample.one_pass=true", "--minority", "1", "--classes", "0,1"],
        ["--factor", "5", "--set", "sample.one_pass=true", "--minority", "1", "--classes", "0"],
        ["--factor", "5", "--partition-by", "nope"],
        ["--factor", "5", "--partition-by", "label"],
        ["--factor", "5", "--cluster-by", "label"],
        ["--factor", "5", "--into-partition", "ds"],
        ["--factor", "5", "--into-partition", "label=x"],
        ["--factor", "5", "--incremental"],
        ["--factor", "5", "--input-version", "-1"],
        ["--factor", "5", "--input-version", "99"],
        ["--factor", "5", "--mode", "append"],
        ["--factor", "5", "--mode", "bogus"],
        ["--factor", "5", "--set", "nope.key=1"],
        ["--factor", "5", "--set", "sample.seed=[1"],
    ):
        yield " ".join(flags) or "no target", [*good, *flags]
    for shape in (
        "string_label",
        "bool_label",
        "three_classes",
        "null_labels",
        "nan_label",
        "one_class",
        "empty",
        "tiny",
        "overwritten",
        "missing_file",
        "a_file",
    ):
        yield f"{shape} input", ["--input", paths[shape], "--factor", "5"]
    yield (
        "null labels dropped",
        ["--input", paths["null_labels"], "--factor", "5", "--null-labels", "drop"],
    )
    yield "dotted label", ["--input", paths["dotted"], "--factor", "5", "--label", "y.label"]
    for shape, form in (
        ("parquet", "parquet"),
        ("overwritten", "parquet"),
        ("csv", "parquet"),
        ("parquet", "delta"),
        ("good", "table"),
        ("missing_file", "parquet"),
    ):
        yield (
            f"{shape} as {form}",
            ["--input", paths[shape], "--input-format", form, "--factor", "5"],
        )
    yield "output is the input", [*good, "--factor", "5", "--output", paths["good"]]
    yield "output empty", [*good, "--factor", "5", "--output", ""]
    yield "output under a file", [*good, "--factor", "5", "--output", paths["a_file"] + "/out"]
    yield "output table without a name", [*good, "--factor", "5", "--output", "table:"]


def checked(spark: SparkSession, output: Path, report_dir: Path) -> str | None:
    """What is wrong with a written table's report, or None: its counts are the table's."""
    report = Report.model_validate_json((report_dir / "report.json").read_text())
    if report.sweep is not None:
        return None  # the table holds the smallest factor's rows with its draw column
    output_df = spark.read.format("delta").load(str(output))
    label = next(c for c in ("label", "y.label") if c in output_df.columns)
    by_class = {
        group_key([row[0]]): row[1]
        for row in output_df.groupBy(F.col(f"`{label}`")).count().collect()
    }
    if report.splits is not None:  # the classes are the training split's
        split = F.col(f"`{report.splits.column}`")
        train_df = output_df.filter(split.eqNullSafe(F.lit(report.splits.train_value)))
        by_class = {
            group_key([row[0]]): row[1]
            for row in train_df.groupBy(F.col(f"`{label}`")).count().collect()
        }
    for section in report.classes:
        if by_class.get(group_key([section.label]), 0) != section.rows_after:
            return f"class {section.label}: report {section.rows_after}, table {by_class}"
    if report.strata is not None:
        columns = report.strata.columns
        groups = output_df.groupBy(*columns, F.col(f"`{label}`")).count().collect()
        table = {
            (tuple(shown(value) for value in group_key(row[:-2])), row[-2]): row[-1]
            for row in groups
        }
        for row in report.strata.top:
            key = (tuple(row.stratum[name] for name in columns), row.label)
            if table.get(key, 0) != row.rows_after:
                return f"stratum {key}: report {row.rows_after}, table {table.get(key, 0)}"
    if report.splits is not None:
        column = report.splits.column
        splits = output_df.groupBy(column).count().collect()
        table_splits = {shown(group_key([row[0]])[0]): row[1] for row in splits}
        for split in report.splits.splits:
            if table_splits.get(split.value, 0) != split.rows_after:
                return f"split {split.value}: report {split.rows_after}"
    return None


def run_case(spark: SparkSession, arguments: list[str], output: Path) -> tuple[str, bool]:
    if "--output" not in arguments:
        arguments = [*arguments, "--output", str(output)]
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(stderr), redirect_stdout(stdout):
            try:
                exit_code = main(["run", *arguments])
            except SystemExit as refused:  # argparse's own one-line refusal of a flag
                exit_code = int(refused.code or 0)
    except BaseException:  # the promise broken: a trace instead of one line
        return "TRACEBACK " + traceback.format_exc().splitlines()[-1], False
    printed = stderr.getvalue()
    last = (printed.strip().splitlines() or [""])[-1]
    if "Traceback" in printed or exit_code not in (0, 2, 4):
        return f"exit {exit_code}: {last}", False
    if exit_code == 2:
        return f"exit 2: {last}", last.startswith(("rebalance: error: ", "rebalance run: error: "))
    wrong = checked(spark, output, output / "_rebalance_report")
    return f"exit {exit_code}: " + (wrong or "counts match the table"), wrong is None


def sweep(root: Path) -> int:
    spark = build_session("local[2]", "rebalance-hostile-sweep", CONF)
    spark.sparkContext.setLogLevel("OFF")
    paths = shapes(spark, root)
    numbers = count(1)
    broken = []
    all_cases = list(cases(paths))
    for name, arguments in all_cases:
        said, held = run_case(spark, arguments, root / f"out{next(numbers)}")
        print(f"{'ok ' if held else 'BROKEN'} {name}: {said}", flush=True)
        if not held:
            broken.append(name)
    print(f"{len(all_cases)} cases, {len(all_cases) - len(broken)} held, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    try:
        sys.exit(sweep(workdir))
    finally:
        if len(sys.argv) <= 1:
            shutil.rmtree(workdir, ignore_errors=True)
