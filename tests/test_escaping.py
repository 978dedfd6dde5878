"""Values from the data reach the report page, the chart and the console escaped, never raw."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import write_delta
from pyspark.sql import SparkSession

from rebalance_lib.cli import main
from rebalance_lib.report import escape

# A pipe (a new table column), a newline (a split row), live HTML, and a terminal escape that
# clears the screen: each from the table itself, as labels, a stratum and a split value.
HOSTILE_LABELS = ["a|b", "line\nbreak", "<img src=x onerror=alert(1)>", "clear\x1b[2J"]
MAJORITY = "ok"
# What a terminal would act on: every control character but a line's end and a tab.
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CELL_BOUNDARY = re.compile(r"(?<!\\)\|")  # a pipe not escaped by a backslash
HTML_TAG = re.compile(r"<[A-Za-z/!?]")


def test_markdown_text_keeps_a_value_in_its_cell_on_one_line_and_never_markup() -> None:
    for label in HOSTILE_LABELS:
        cell = escape.markdown_text(label)
        assert not CELL_BOUNDARY.search(cell)
        assert "\n" not in cell and not TERMINAL_CONTROL.search(cell)
        assert not HTML_TAG.search(cell)
    assert escape.markdown_text("*not bold* `nor code`") == r"\*not bold\* \`nor code\`"


def test_a_code_span_is_fenced_longer_than_the_backticks_it_holds() -> None:
    assert escape.markdown_code("plain") == "`plain`"
    assert escape.markdown_code("a``b") == "```a``b```"
    assert escape.markdown_code("`edge`") == "`` `edge` ``"
    assert escape.markdown_code("two\nlines") == r"`two\nlines`"


def test_the_console_keeps_a_page_s_lines_and_shows_every_other_control_escaped() -> None:
    assert escape.console("page\n\tindented\x1b[2J\r\u202e") == r"page" + "\n\t" + (
        r"indented\x1b[2J\r\u202e"
    )
    assert escape.one_line("a\nb") == r"a\nb"


def hostile_source(spark: SparkSession, path: Path) -> str:
    """400 rows of the majority and 40 of each hostile label, in two strata whose values are
    hostile too, and a split column: 1 row in 10 outside the training split."""
    labels = F.array(*[F.lit(label) for label in HOSTILE_LABELS])
    source_df = (
        spark.range(0, 560, 1, 2)
        .withColumn(
            "label",
            F.when(F.col("id") < 400, F.lit(MAJORITY)).otherwise(
                labels[((F.col("id") - 400) % len(HOSTILE_LABELS)).cast("int")]
            ),
        )
        .withColumn("region", F.when(F.col("id") % 2 == 0, "x|y").otherwise("<b>z</b>"))
        .withColumn("split", F.when(F.col("id") % 10 == 0, "held\x1b[1mout").otherwise("train"))
    )
    return write_delta(source_df, path)


def test_hostile_labels_keep_the_page_s_tables_whole_and_reach_no_console_raw(
    spark: SparkSession, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = hostile_source(spark, tmp_path / "in")
    output = tmp_path / "out"
    flags = ["--factor", "4", "--strata", "region", "--split-col", "split"]
    # The command as users run it, its descriptors captured: the JVM's lines too.
    assert main(["run", "--input", source, "--output", str(output), *flags]) == 0
    stdout, stderr = capfd.readouterr()
    assert not TERMINAL_CONTROL.search(stdout), stdout
    assert not TERMINAL_CONTROL.search(stderr), stderr
    assert r"| clear\x1b\[2J |" in stdout  # shown, escaped, in the page printed after the run

    report_dir = output / "_rebalance_report"
    page = (report_dir / "report.md").read_text()
    assert not HTML_TAG.search(page)
    for table in re.findall(r"(?:^\|.*\n)+", page, flags=re.MULTILINE):
        widths = {len(CELL_BOUNDARY.split(row)) for row in table.splitlines()}
        assert len(widths) == 1, table  # every row as many cells as the header
    assert "| a\\|b |" in page and "| line\\nbreak |" in page

    # The JSON holds the values themselves, as JSON.
    report = json.loads((report_dir / "report.json").read_text())
    assert {c["label"] for c in report["classes"]} == {MAJORITY, *HOSTILE_LABELS}
    assert {s["value"] for s in report["splits"]["splits"]} == {"train", "held\x1b[1mout"}
    chart = ET.parse(report_dir / "class_counts.svg").getroot()  # still well-formed XML
    shown = {bar.get("data-label") for bar in chart.iter("{http://www.w3.org/2000/svg}rect")}
    assert escape.one_line("clear\x1b[2J") in shown
