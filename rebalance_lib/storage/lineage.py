"""How a table was made: commit metadata and table properties out, history and report back in."""

from __future__ import annotations

import json
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from rebalance_lib.core.calibration import calibration_table
from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.plan import Plan
from rebalance_lib.core.tables import Table
from rebalance_lib.storage import delta_sql
from rebalance_lib.storage.source import SourceInfo

REPORT_DIR_NAME = "_rebalance_report"  # Delta and VACUUM leave "_" folders alone
TOOL_NAME = "rebalance"


def run_lineage(
    plan: Plan,
    source: SourceInfo,
    run_id: str,
    *,
    seed: int,
    sampler: str,
    sample_key: list[str],
    label_column: str,
    weight_column: str,
    grouped: bool,
    exact: bool,
    incremental: bool,
    sweep_factors: list[float] | None = None,
    redoes: int | None = None,
) -> dict[str, Any]:
    """The commit's userMetadata: enough to redo the run (``redoes``: the version of this run
    id's earlier commit that this one redoes from a newer source version)."""
    return {
        "tool": TOOL_NAME,
        "run_id": run_id,
        "request": plan.request.describe(),
        "factor": plan.factor,
        "class_factors": {str(c.label): c.factor for c in plan.classes},
        "seed": seed,
        "sampler": sampler,
        "sample_key": sample_key,
        "source": source.name,
        "source_version": source.delta_version,
        "label_column": label_column,
        "weight_column": weight_column,
        "minority_label": plan.minority_label,
        "grouped": grouped,
        "exact": exact,
        "incremental": incremental,
        "sweep_factors": sweep_factors or [],
        "redoes": redoes,
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
    if lineage.get("sweep_factors"):
        properties["rebalance.sweepFactors"] = json.dumps(lineage["sweep_factors"])
    properties["rebalance.calibration"] = json.dumps(
        {
            "formula": "q = p / (p + F * (1 - p)); logit(q) = logit(p) - log(F)",
            "classes": calibration_table(lineage["class_factors"]),
        }
    )
    return properties


def default_report_dir(output_path: str) -> str:
    return f"{output_path.rstrip('/')}/{REPORT_DIR_NAME}"


def run_commit(spark: SparkSession, output: Table, run_id: str) -> dict[str, Any] | None:
    """The data commit run ``run_id`` made to ``output``, if it made one."""
    try:
        history = rebalance_history(spark, output)
    except (OutputError, AnalysisException):  # no table there, or a path inside one
        return None
    return next((commit for commit in history if commit["run_id"] == run_id), None)


def rebalance_history(spark: SparkSession, output: Table) -> list[dict[str, Any]]:
    """The table's commits made by rebalance, newest first, with their run lineage."""
    if not delta_sql.is_delta(spark, output):
        raise OutputError(
            f"{output} is not a Delta table: name the output of a run", fix={"path": None}
        )
    commits = (
        delta_sql.history(spark, delta_sql.table_ref(output))
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
