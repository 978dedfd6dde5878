"""The run report: one validated model, rendered as JSON (machines) and Markdown (people)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rebalance_lib.core.checks import BiasCheck, ClassOutcome
from rebalance_lib.core.plan import Plan, degree_of_imbalance, rows_per_batch
from rebalance_lib.core.targets import Label

REPORT_SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSection(_Model):
    name: str
    format: str
    delta_version: int | None
    size_bytes: int | None
    rows: int
    null_label_rows_dropped: int
    appended_after_version: int | None = None


class OutputSection(_Model):
    path: str
    mode: Literal["error", "overwrite", "append"]
    delta_version: int
    rows: int
    metrics_source: Literal["observation", "output-scan"]


class RequestSection(_Model):
    said: str
    form: str
    seed: int
    sampler: str
    sample_key: list[str]
    source_passes: Literal[1, 2, 3]
    exact: bool = False
    weight_basis: Literal["nominal", "realized"] = "nominal"
    batch_size: int


class ClassSection(_Model):
    label: int | bool | str
    rows_before: int
    factor: float
    keep_fraction: float
    weight_multiplier: float
    expected_rows_after: float
    rows_after: int
    deviation_sigmas: float | None
    weighted_total_before: float
    weighted_total_after: float


class BiasSection(_Model):
    share_before: dict[str, float]
    weighted_share_after: dict[str, float]
    share_tolerance: dict[str, float]
    label_mean_before: float | None
    weighted_label_mean_after: float | None
    label_mean_tolerance: float | None
    sigmas: float
    verdict: Literal["PASS", "FAIL"]


class BatchSection(_Model):
    batch_size: int
    minority_label: int | bool | str
    minority_per_batch_before: float
    minority_per_batch_after: float
    degree_before: str
    degree_after: str
    ratio_before: float
    ratio_after: float


class StratumSection(_Model):
    stratum: dict[str, str]
    label: int | bool | str
    rows_before: int
    factor: float
    expected_rows_after: float
    rows_after: int


class StrataSection(_Model):
    columns: list[str]
    strata_planned: int
    strata_kept_whole: int
    top: list[StratumSection]
    rest_groups: int
    rest_rows_before: int
    rest_rows_after: int


class SplitRow(_Model):
    value: str
    rows_before: int
    rows_after: int
    rebalanced: bool


class SplitSection(_Model):
    column: str
    train_value: str
    splits: list[SplitRow]


class CalibrationSection(_Model):
    label: int | bool | str
    factor: float
    logit_offset: float


class Report(_Model):
    """Everything a user needs to trust a rebalanced table without opening it."""

    schema_version: int = REPORT_SCHEMA_VERSION
    run_id: str
    created_at: str
    rebalance_version: str
    spark_version: str
    spark_app_id: str
    source: SourceSection
    output: OutputSection
    request: RequestSection
    factor: float
    classes: list[ClassSection]
    counts_within_bound: bool
    bias_check: BiasSection
    batch: BatchSection
    advice: list[str]
    timings_s: dict[str, float]
    strata: StrataSection | None = None
    splits: SplitSection | None = None
    calibration: list[CalibrationSection] = []


def class_sections(plan: Plan, outcomes: Mapping[Label, ClassOutcome]) -> list[ClassSection]:
    """Per-class rows before/after, deviation in sigmas and weighted totals."""
    return [
        ClassSection(
            label=c.label,
            rows_before=c.rows_before,
            factor=c.factor,
            keep_fraction=c.keep_fraction,
            weight_multiplier=c.weight_multiplier,
            expected_rows_after=c.expected_rows_after,
            rows_after=outcomes[c.label].rows_after,
            deviation_sigmas=outcomes[c.label].deviation_sigmas,
            weighted_total_before=outcomes[c.label].weight_before,
            weighted_total_after=outcomes[c.label].weight_after,
        )
        for c in plan.classes
    ]


def bias_section(bias: BiasCheck) -> BiasSection:
    return BiasSection(
        share_before=_keyed(bias.share_before),
        weighted_share_after=_keyed(bias.weighted_share_after),
        share_tolerance=_keyed(bias.share_tolerance),
        label_mean_before=bias.label_mean_before,
        weighted_label_mean_after=bias.weighted_label_mean_after,
        label_mean_tolerance=bias.label_mean_tolerance,
        sigmas=bias.sigmas,
        verdict="PASS" if bias.passed else "FAIL",
    )


def batch_section(plan: Plan, outcomes: Mapping[Label, ClassOutcome]) -> BatchSection:
    """Minority rows per batch and degree, before and as actually written."""
    rows_after = sum(o.rows_after for o in outcomes.values())
    minority_after = outcomes[plan.minority_label].rows_after
    largest_after = max(o.rows_after for o in outcomes.values())
    return BatchSection(
        batch_size=plan.batch_size,
        minority_label=plan.minority_label,
        minority_per_batch_before=plan.minority_per_batch_before,
        minority_per_batch_after=rows_per_batch(minority_after, rows_after, plan.batch_size),
        degree_before=degree_of_imbalance(plan.minority_share_before),
        degree_after=degree_of_imbalance(minority_after / rows_after),
        ratio_before=plan.ratio_before,
        ratio_after=largest_after / minority_after,
    )


def _keyed(values: Mapping[Label, float]) -> dict[str, float]:
    return {str(label): value for label, value in values.items()}


def to_markdown(report: Report, chart_name: str | None = None) -> str:
    """A one-page human summary of the report."""
    source, output, batch, bias = report.source, report.output, report.batch, report.bias_check
    version = f" @ version {source.delta_version}" if source.delta_version is not None else ""
    dropped = source.null_label_rows_dropped
    within = "yes" if report.counts_within_bound else "NO"
    lines = [
        f"# Rebalance report `{report.run_id}`",
        "",
        f"- **Source**: `{source.name}` ({source.format}{version}), {source.rows:,} rows"
        + (
            f" appended after version {source.appended_after_version} (incremental run)"
            if source.appended_after_version is not None
            else ""
        )
        + (f", {dropped:,} null-label rows dropped" if dropped else ""),
        f"- **Output**: `{output.path}` (Delta version {output.delta_version}, "
        f"mode {output.mode}), {output.rows:,} rows",
        f"- **Request**: {report.request.said}; factor {report.factor:,.6g}; "
        f"seed {report.request.seed}; sampler {report.request.sampler}; "
        f"source read {_times(report.request.source_passes)}"
        + ("; exact counts" if report.request.exact else "")
        + (f"; weights {report.request.weight_basis}" if report.request.exact else ""),
        f"- **Minority rows per batch of {batch.batch_size}**: "
        f"{batch.minority_per_batch_before:.2f} before, {batch.minority_per_batch_after:.2f} after",
        f"- **Degree**: {batch.degree_before} before ({batch.ratio_before:,.4g}:1), "
        f"{batch.degree_after} after ({batch.ratio_after:,.4g}:1)",
        f"- **Prediction-bias check**: **{bias.verdict}**" + _mean_text(bias),
        f"- **Counts within {bias.sigmas:g} sigma of the plan**: {within}",
        "",
        "| class | rows before | factor | weight | expected after | rows after | deviation (sigma) "
        "| weighted after | weighted share before -> after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report.classes:
        key = str(c.label)
        sigmas = "exact" if c.deviation_sigmas is None else f"{c.deviation_sigmas:+.2f}"
        lines.append(
            f"| {key} | {c.rows_before:,} | {c.factor:,.6g} | x{c.weight_multiplier:,.6g} | "
            f"{c.expected_rows_after:,.0f} | {c.rows_after:,} | {sigmas} | "
            f"{c.weighted_total_after:,.0f} | {bias.share_before[key]:.4%} -> "
            f"{bias.weighted_share_after[key]:.4%} |"
        )
    lines += _strata_lines(report.strata) + _split_lines(report.splits)
    lines += _calibration_lines(report)
    if chart_name is not None:
        lines += ["", f"![class counts before and after]({chart_name})"]
    lines += ["", "## Advice", "", *[f"- {line}" for line in report.advice]]
    timings = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in report.timings_s.items())
    lines += [
        "",
        f"Timings: {timings}. Spark {report.spark_version}, application `{report.spark_app_id}`.",
    ]
    return "\n".join(lines) + "\n"


def _strata_lines(strata: StrataSection | None) -> list[str]:
    if strata is None:
        return []
    lines = [
        "",
        f"## Strata ({', '.join(strata.columns)}): {strata.strata_planned:,} planned, "
        f"{strata.strata_kept_whole:,} kept whole",
        "",
        "| stratum | class | rows before | factor | expected after | rows after |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in strata.top:
        stratum = ", ".join(f"{name}={value}" for name, value in row.stratum.items())
        lines.append(
            f"| {stratum} | {row.label} | {row.rows_before:,} | {row.factor:,.6g} | "
            f"{row.expected_rows_after:,.0f} | {row.rows_after:,} |"
        )
    if strata.rest_groups:
        lines.append(
            f"| {strata.rest_groups:,} more groups | | {strata.rest_rows_before:,} | | | "
            f"{strata.rest_rows_after:,} |"
        )
    return lines


def _calibration_lines(report: Report) -> list[str]:
    if not report.calibration:
        return []
    minority = report.batch.minority_label
    lines = [
        "",
        "## Calibration, for models trained on this table without the weight column",
        "",
        f"Predicted probability p of class {minority} -> p / (p + F * (1 - p)), i.e. add the "
        "logit offset -log(F): `rebalance_lib.calibrate(p, F)` (floats, numpy arrays, Spark "
        "Columns). With several downsampled classes, multiply each class's probability by its "
        "F and renormalise.",
        "",
        "| class | F | logit offset |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {entry.label} | {entry.factor:,.6g} | {entry.logit_offset:+.6f} |"
        for entry in report.calibration
    ]
    if report.strata is not None:
        lines += ["", "F here is each class's overall factor; strata have their own (see above)."]
    return lines


def _split_lines(splits: SplitSection | None) -> list[str]:
    if splits is None:
        return []
    lines = [
        "",
        f"## Splits ({splits.column}): only '{splits.train_value}' is rebalanced",
        "",
        "| split | rows before | rows after | rebalanced |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {row.value} | {row.rows_before:,} | {row.rows_after:,} | "
        f"{'yes' if row.rebalanced else 'no, weight unchanged'} |"
        for row in splits.splits
    ]
    return lines


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _mean_text(bias: BiasSection) -> str:
    if bias.label_mean_before is None or bias.weighted_label_mean_after is None:
        return " (weighted class shares within tolerance)" if bias.verdict == "PASS" else ""
    return (
        f" (label mean {bias.label_mean_before:.6f} before, weighted "
        f"{bias.weighted_label_mean_after:.6f} after, tolerance +/-{bias.label_mean_tolerance:.6f})"
    )


def report_json_schema() -> dict[str, Any]:
    """The documented JSON Schema that every report.json validates against."""
    return Report.model_json_schema()
