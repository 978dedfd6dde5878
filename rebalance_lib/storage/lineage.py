"""How a table was made: commit metadata and table properties out, history and report back in."""

from __future__ import annotations

import json
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.calibration import calibration_table
from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.plan import Plan
from rebalance_lib.grouped import is_grouped
from rebalance_lib.report.model import Report
from rebalance_lib.storage import fs
from rebalance_lib.storage.source import SourceInfo

REPORT_DIR_NAME = "_rebalance_report"  # Delta and VACUUM leave "_" folders alone
TOOL_NAME = "rebalance"


def run_lineage(
    config: RebalanceConfig, plan: Plan, source: SourceInfo, run_id: str
) -> dict[str, Any]:
    """The commit's userMetadata: enough to redo the run."""
    return {
        "tool": TOOL_NAME,
        "run_id": run_id,
        "request": plan.request.describe(),
        "factor": plan.factor,
        "class_factors": {str(c.label): c.factor for c in plan.classes},
        "seed": config.sample.seed,
        "sampler": config.sample.method,
        "sample_key": config.sample.key,
        "source": source.name,
        "source_version": source.delta_version,
        "label_column": config.label.column,
        "weight_column": config.weight.column,
        "minority_label": plan.minority_label,
        "grouped": is_grouped(config),
        "exact": config.sample.exact,
        "incremental": config.output.incremental,
    }


# Table property (after "rebalance.") -> lineage key, for the values shown as they are.
_PROPERTY_KEYS = {
    "runId": "run_id",
    "request": "request",
    "seed": "seed",
    "sampler": "sampler",
    "source": "source",
    "sourceVersion": "source_version",
    "labelColumn": "label_column",
    "weightColumn": "weight_column",
    "minorityLabel": "minority_label",
}


def table_properties(lineage: dict[str, Any]) -> dict[str, str]:
    """``rebalance.*`` table properties from a run's lineage, for SHOW TBLPROPERTIES."""
    properties = {f"rebalance.{name}": str(lineage[key]) for name, key in _PROPERTY_KEYS.items()}
    properties["rebalance.factor"] = f"{lineage['factor']:.17g}"
    properties["rebalance.classFactors"] = json.dumps(lineage["class_factors"])
    properties["rebalance.calibration"] = json.dumps(
        {
            "formula": "q = p / (p + F * (1 - p)); logit(q) = logit(p) - log(F)",
            "classes": calibration_table(lineage["class_factors"]),
        }
    )
    return properties


def default_report_dir(output_path: str) -> str:
    return f"{output_path.rstrip('/')}/{REPORT_DIR_NAME}"


def read_report(spark: SparkSession, output_path: str, report_dir: str | None = None) -> Report:
    """The last report written for ``output_path``."""
    report_json = f"{report_dir or default_report_dir(output_path)}/report.json"
    if not fs.exists(spark, report_json):
        raise OutputError(
            f"no report at {report_json}: was {output_path} written by `rebalance run`? "
            "pass --report-dir if the report was written elsewhere"
        )
    return Report.model_validate_json(fs.read_text(spark, report_json))


def rebalance_history(spark: SparkSession, output_path: str) -> list[dict[str, Any]]:
    """The table's commits made by rebalance, newest first, with their run lineage."""
    if not DeltaTable.isDeltaTable(spark, output_path):
        raise OutputError(f"{output_path} is not a Delta table: pass the --output of a run")
    commits = (
        DeltaTable.forPath(spark, output_path)
        .history()
        .select("version", "timestamp", "operation", "userMetadata")
        .collect()
    )
    history = []
    for commit in commits:
        try:
            metadata = json.loads(commit["userMetadata"] or "{}")
        except json.JSONDecodeError:
            continue
        if metadata.get("tool") == TOOL_NAME:
            history.append(
                {
                    "version": commit["version"],
                    "timestamp": str(commit["timestamp"]),
                    "operation": commit["operation"],
                    **metadata,
                }
            )
    return history
