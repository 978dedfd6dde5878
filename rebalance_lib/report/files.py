"""The report's files next to the table: report.json, report.md and the class-count chart."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.report.chart import class_counts_png
from rebalance_lib.report.markdown import to_markdown
from rebalance_lib.report.model import Report
from rebalance_lib.storage import fs
from rebalance_lib.storage.lineage import default_report_dir

log = logging.getLogger(__name__)

CHART_NAME = "class_counts.png"


def write_report_files(spark: SparkSession, report: Report, report_dir: str) -> None:
    """report.json, report.md and the chart, written through Hadoop (object stores too)."""
    fs.write_bytes(spark, f"{report_dir}/report.json", report.model_dump_json(indent=2).encode())
    fs.write_bytes(spark, f"{report_dir}/{CHART_NAME}", class_counts_png(report))
    fs.write_bytes(spark, f"{report_dir}/report.md", to_markdown(report, CHART_NAME).encode())
    log.debug("report written to %s", report_dir)


def read_report(spark: SparkSession, output_path: str, report_dir: str | None = None) -> Report:
    """The last report written for ``output_path``."""
    report_json = f"{report_dir or default_report_dir(output_path)}/report.json"
    if not fs.exists(spark, report_json):
        raise OutputError(
            f"no report at {report_json}: was {output_path} written by rebalance? "
            "name the report folder if it was written elsewhere",
            fix={"report_dir": None},
        )
    return Report.model_validate_json(fs.read_text(spark, report_json))
