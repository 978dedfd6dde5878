"""The report's files: report.json, report.md and the class-count chart (SVG).

On a classic session they go to the report folder (default OUTPUT/_rebalance_report), as
plain files on the driver's disk or, for other file systems, through Spark. Over Spark
Connect the client may not see the server's disk: the report goes next to the table through
Spark (each file a one-row text write), and to a report folder on the client's own disk
when one is named.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.tables import Table
from rebalance_lib.report.chart import class_counts_svg
from rebalance_lib.report.markdown import to_markdown
from rebalance_lib.report.model import Report
from rebalance_lib.storage import delta_sql, fs
from rebalance_lib.storage.lineage import default_report_dir

log = logging.getLogger(__name__)

CHART_NAME = "class_counts.svg"


def table_report_dir(
    spark: SparkSession, output: Table, report_dir: str | None, subfolder: str = ""
) -> str:
    """The report folder Spark writes and reads: a client's folder only where the client is
    the driver. ``subfolder`` (one partition's, ``ds=2026-11-23``) is under the default one."""
    if report_dir is not None and fs.client_is_driver(spark):
        return report_dir
    folder = default_report_dir(delta_sql.location(spark, output) or str(output))
    return f"{folder}/{subfolder}" if subfolder else folder


def _client_only_dir(spark: SparkSession, report_dir: str | None) -> Path | None:
    """A report folder on the client's disk that Spark's driver may not see (Connect)."""
    if report_dir is None or fs.client_is_driver(spark):
        return None
    return Path(report_dir)


def report_texts(report: Report) -> dict[str, str]:
    """The report's files by name: report.json, report.md and the chart it shows."""
    return {
        "report.json": report.model_dump_json(indent=2),
        "report.md": to_markdown(report, CHART_NAME),
        CHART_NAME: class_counts_svg(report),
    }


def write_report_files(
    spark: SparkSession,
    report: Report,
    *,
    output: Table,
    report_dir: str | None,
    subfolder: str = "",
) -> str:
    """Write the report (see the module's docstring) and return the folder to read it from."""
    texts = report_texts(report)
    folder = table_report_dir(spark, output, report_dir, subfolder)
    for name, text in texts.items():
        fs.write_text(spark, f"{folder}/{name}", text)
    log.debug("report written to %s", folder)
    client_dir = _client_only_dir(spark, report_dir)
    if client_dir is None:
        return folder
    client_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (client_dir / name).write_text(text)
    log.debug("report written to %s on this machine", client_dir)
    return str(client_dir)


def read_report_json(
    spark: SparkSession, output: Table, report_dir: str | None, subfolder: str = ""
) -> str | None:
    """The text of the last report.json written for ``output``, None when there is none."""
    client_dir = _client_only_dir(spark, report_dir)
    if client_dir is not None:
        report_json = client_dir / "report.json"
        return report_json.read_text() if report_json.is_file() else None
    folder = table_report_dir(spark, output, report_dir, subfolder)
    return fs.read_text(spark, f"{folder}/report.json")


def read_report(spark: SparkSession, output: Table, report_dir: str | None = None) -> Report:
    """The last report written for ``output``."""
    report_json = read_report_json(spark, output, report_dir)
    if report_json is None:
        folder = report_dir or default_report_dir(str(output))
        raise OutputError(
            f"no report at {folder}/report.json: was {output} written by rebalance? "
            "name the report folder if it was written elsewhere",
            fix={"report_dir": None},
        )
    return Report.model_validate_json(report_json)
