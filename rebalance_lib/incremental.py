"""Stable incremental reruns: decide only the rows appended to the source since the last run.

With the hash sampler, whether a row is kept depends only on its key, the seed and its
class's keep fraction. Reusing the previous run's fractions, seed and key, the rows chosen
before stay chosen, and each new row gets the decision a full rerun would give it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import pyspark.sql.functions as F
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.plan import ClassPlan, Plan
from rebalance_lib.core.targets import Label, TargetRequest
from rebalance_lib.stages import PhaseTimer, Planned, check_profile
from rebalance_lib.storage import lineage
from rebalance_lib.storage.source import read_source
from rebalance_lib.transforms.profile import profile_classes

log = logging.getLogger(__name__)

# Commits that add rows and change nothing else, and commits that change no rows at all.
_APPENDS = {("WRITE", "Append"), ("STREAMING UPDATE", "Append")}
_NO_DATA_CHANGE = {"SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "VACUUM START", "VACUUM END"}
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


@dataclass(frozen=True)
class PreviousRun:
    """The lineage of the output's last rebalance commit."""

    lineage: dict[str, Any]

    @property
    def source_version(self) -> int:
        return int(self.lineage["source_version"])

    @property
    def class_factors(self) -> dict[str, float]:
        return dict(self.lineage["class_factors"])


def previous_run(spark: SparkSession, config: RebalanceConfig) -> PreviousRun:
    """The last run written to the output, checked to be one an increment can extend."""
    output_path = config.output.path
    assert output_path is not None
    if not DeltaTable.isDeltaTable(spark, output_path):
        raise ConfigError(
            f"--incremental extends an earlier run, but {output_path} is not a Delta table yet: "
            "run once without --incremental"
        )
    history = lineage.rebalance_history(spark, output_path)
    if not history:
        raise ConfigError(
            f"{output_path} was not written by rebalance: --incremental needs its runs"
        )
    last = history[0]
    wanted = {
        "source": config.input.source,
        "sampler": "hash",
        "seed": config.sample.seed,
        "sample_key": config.sample.key,
        "label_column": config.label.column,
        "weight_column": config.weight.column,
    }
    different = [
        f"{name} {last.get(name)!r} (now {value!r})"
        for name, value in wanted.items()
        if last.get(name) != value
    ]
    if different:
        raise ConfigError(
            "--incremental must repeat the last run's source, hash sampler, seed, key and "
            f"columns; it had {', '.join(different)}"
        )
    if last.get("grouped") or last.get("exact"):
        raise ConfigError(
            "--incremental extends label-level runs only; the last run used strata, a split "
            "or --exact: rerun in full with --mode overwrite"
        )
    return PreviousRun(last)


def check_append_only(
    delta_table: DeltaTable, after_version: int, to_version: int, name: str, compacted_ok: bool
) -> None:
    """Refuse when a commit since ``after_version`` changed or removed rows (or, unless the
    change data feed tells appends apart, rewrote files with OPTIMIZE)."""
    commits = (
        delta_table.history()
        .filter((F.col("version") > after_version) & (F.col("version") <= to_version))
        .select("version", "operation", "operationParameters")
        .collect()
    )
    for commit in commits:
        parameters = commit["operationParameters"] or {}
        mode = parameters.get("mode") or parameters.get("outputMode")
        if (commit["operation"], mode) in _APPENDS or commit["operation"] in _NO_DATA_CHANGE:
            continue
        if commit["operation"] == "OPTIMIZE" and compacted_ok:
            continue
        raise InputError(
            f"{name} version {commit['version']} ({commit['operation']}) changed or removed "
            "rows: an increment can only add rows; rerun in full with --mode overwrite"
        )


def appended_rows(spark: SparkSession, path: str, after_version: int, to_version: int) -> DataFrame:
    """The rows added to the Delta table at ``path`` after ``after_version``, up to ``to_version``.

    From the change data feed when the table has it on; otherwise from the data files the
    append commits added (the files of ``to_version`` missing from ``after_version``).
    """
    delta_table = DeltaTable.forPath(spark, path)
    properties = delta_table.detail().select("properties").first()[0] or {}  # type: ignore[index]
    has_change_feed = str(properties.get("delta.enableChangeDataFeed", "false")).lower() == "true"
    check_append_only(delta_table, after_version, to_version, path, compacted_ok=has_change_feed)
    if has_change_feed:
        log.info("[incremental] reading the change data feed of %s", path)
        changes_df = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", after_version + 1)
            .option("endingVersion", to_version)
            .load(path)
        )
        return changes_df.filter(F.col("_change_type") == "insert").drop(*_CDF_COLUMNS)
    before = set(_files_at(spark, path, after_version))
    new_files = [name for name in _files_at(spark, path, to_version) if name not in before]
    log.info("[incremental] %d data files were appended to %s", len(new_files), path)
    version_df = spark.read.format("delta").option("versionAsOf", to_version).load(path)
    return version_df.filter(F.col("_metadata.file_path").isin(new_files))


def _files_at(spark: SparkSession, path: str, version: int) -> list[str]:
    return list(spark.read.format("delta").option("versionAsOf", version).load(path).inputFiles())


def increment_plan(previous: PreviousRun, class_counts: dict[Label, int], batch_size: int) -> Plan:
    """The previous run's per-class factors applied to the appended rows' classes."""
    factors = previous.class_factors
    unknown = [label for label in class_counts if str(label) not in factors]
    if unknown:
        raise InputError(
            f"the appended rows hold label value(s) {', '.join(map(str, unknown))} the last run "
            "did not plan: rerun in full with --mode overwrite"
        )
    classes = tuple(
        ClassPlan(label, rows, factors[str(label)])
        for label, rows in sorted(class_counts.items(), key=lambda item: str(item[0]))
    )
    minority = previous.lineage.get("minority_label")
    if minority not in class_counts:
        minority = min(class_counts, key=lambda label: factors[str(label)])
    return Plan(TargetRequest(factor=max(c.factor for c in classes)), minority, batch_size, classes)


def open_increment(
    spark: SparkSession, config: RebalanceConfig, timer: PhaseTimer
) -> Planned | str:
    """The rows appended to the source since the output's last run, planned with that run's
    factors; when there are none, the reason to write nothing."""
    previous = previous_run(spark, config)
    with timer.phase("open", "opening the input and pinning its version"):
        _, source = read_source(spark, config.input)
    if source.delta_version is None or config.input.source is None:
        raise ConfigError("--incremental needs a Delta input path: it reads the source's versions")
    if source.delta_version <= previous.source_version:
        return f"{source.name} is still at version {source.delta_version}, already rebalanced"
    appended_df = appended_rows(
        spark, config.input.source, previous.source_version, source.delta_version
    )
    with timer.phase(
        "profile", f"counting classes of the rows appended since version {previous.source_version}"
    ):
        profile = profile_classes(appended_df, config.label.column, config.weight.input_column)
    check_profile(profile, config)
    if not profile.class_counts:
        raise InputError(
            f"{source.name} versions {previous.source_version + 1}-{source.delta_version} "
            "added no labelled rows: nothing to append"
        )
    plan = increment_plan(previous, profile.class_counts, config.batch_size)
    increment_source = replace(source, appended_after_version=previous.source_version)
    return Planned(appended_df, increment_source, profile, plan)
