"""The report as one page of Markdown, for people: every value from the data escaped
(``escape``), so that the page's tables keep their columns and no HTML of the data runs."""

from __future__ import annotations

from rebalance_lib.core.bounds import CHECK_LEVEL
from rebalance_lib.core.checks import BiasCheck
from rebalance_lib.core.keys import canonical
from rebalance_lib.report.escape import markdown_code, markdown_text
from rebalance_lib.report.model import (
    BatchSection,
    Report,
    SplitSection,
    StrataSection,
    SweepSection,
    shown_classes,
)


def to_markdown(report: Report, chart_name: str | None = None, *, calibration: bool = True) -> str:
    """A one-page human summary of the report.

    ``calibration=False`` (the console's page after a run) points to ``report.md`` for the
    calibration table instead of showing it, and leaves out the table of batches in file
    order (its minority line stays).
    """
    source, output, batch, bias = report.source, report.output, report.batch, report.bias_check
    version = f" @ version {source.delta_version}" if source.delta_version is not None else ""
    dropped = source.null_label_rows_dropped
    within = "yes" if report.counts_within_bound else "NO"
    lines = [
        f"# Rebalance report {markdown_code(report.run_id)}",
        "",
        f"- **Source**: {markdown_code(source.name)} ({source.format}{version}), "
        f"{source.rows:,} rows"
        + (
            f" appended after version {source.appended_after_version} (incremental run)"
            if source.appended_after_version is not None
            else ""
        )
        + (f", {dropped:,} null-label rows dropped" if dropped else ""),
        f"- **Output**: {markdown_code(output.path)} (Delta version {output.delta_version}, "
        f"mode {output.mode}), {output.rows:,} rows",
        f"- **Request**: {markdown_text(report.request.said)}; factor {report.factor:,.6g}; "
        f"seed {report.request.seed}; sampler {report.request.sampler}; "
        f"source read {_times(report.request.source_passes)}"
        + ("; exact counts" if report.request.exact else "")
        + (f"; weights {report.request.weight_basis}" if report.request.exact else ""),
        f"- **Minority rows per batch of {batch.batch_size}**: "
        f"{batch.minority_per_batch_before:.2f} before, {batch.minority_per_batch_after:.2f} after",
        *_file_order_summary(batch),
        f"- **Degree**: {batch.degree_before} before ({batch.ratio_before:,.4g}:1), "
        f"{batch.degree_after} after ({batch.ratio_after:,.4g}:1)",
        f"- **Prediction-bias check**: **{bias.verdict}**" + _mean_text(bias),
        f"- **Counts within the plan's bound** (a correct run misses it once in "
        f"{1 / CHECK_LEVEL:,.0f} at most): {within}",
        f"- **Checks**: {'PASS' if report.checks_passed else 'FAIL (exit code 4)'}",
        "",
        "| class | rows before | factor | weight | expected after | rows after | deviation (sigma) "
        "| weighted after | weighted share before -> after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    shown, rest = shown_classes(report)
    for c in shown:
        key = str(c.label)
        sigmas = "exact" if c.deviation_sigmas is None else f"{c.deviation_sigmas:+.2f}"
        lines.append(
            f"| {markdown_text(key)} | {c.rows_before:,} | {c.factor:,.6g} | "
            f"x{c.weight_multiplier:,.6g} | "
            f"{c.expected_rows_after:,.0f} | {c.rows_after:,} | {sigmas} | "
            f"{c.weighted_total_after:,.0f} | {bias.share_before[key]:.4%} -> "
            f"{bias.weighted_share_after[key]:.4%} |"
        )
    if rest:
        lines.append(
            f"| {len(rest):,} more classes (each in report.json) | "
            f"{sum(c.rows_before for c in rest):,} | | | "
            f"{sum(c.expected_rows_after for c in rest):,.0f} | "
            f"{sum(c.rows_after for c in rest):,} | | "
            f"{sum(c.weighted_total_after for c in rest):,.0f} | |"
        )
    if calibration:
        lines += _file_order_lines(batch)
    lines += _sweep_lines(report.sweep, batch.batch_size)
    lines += _strata_lines(report.strata) + _split_lines(report.splits)
    if calibration:
        lines += _calibration_lines(report)
    elif report.calibration:
        lines += ["", "Calibration, for models trained without the weight column: `report.md`."]
    if chart_name is not None:
        lines += ["", f"![class counts before and after]({chart_name})"]
    lines += ["", "## Advice", "", *[f"- {markdown_text(line)}" for line in report.advice]]
    timings = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in report.timings_s.items())
    lines += [
        "",
        f"Timings: {timings}. Spark {report.spark_version}, application "
        f"{markdown_code(report.spark_app_id)}.",
    ]
    return "\n".join(lines) + "\n"


def _file_order_summary(batch: BatchSection) -> list[str]:
    """The minority per batch of consecutive rows in file order, on one line."""
    minority_key = canonical(batch.minority_label)
    minority = [c for c in batch.file_order if canonical(c.label) == minority_key]
    if not minority:
        return []
    m = minority[0]
    verdict = "**worse than random**" if m.worse_than_random else "as random batches"
    return [
        f"- **Minority rows per batch in file order** ({batch.row_order} rows): mean "
        f"{m.mean:.2f}, p5 {m.p5}, p95 {m.p95}; {m.share_without:.2%} of the batches without "
        f"one (random batches: {m.random_share_without:.2%}): {verdict}"
    ]


def _file_order_lines(batch: BatchSection) -> list[str]:
    """Each class per batch of consecutive rows, as a streaming loader reads the files."""
    if not batch.file_order:
        return []
    batches = batch.file_order[0].batches
    lines = [
        "",
        f"Rows per batch of {batch.batch_size} consecutive rows, read in file order "
        f"({batches:,} full batches; rows written in {batch.row_order} order):",
        "",
        "| class | mean | p5 | p50 | p95 | batches without it | random batches without it "
        "| variance (random) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in batch.file_order:
        worse = " **worse than random**" if c.worse_than_random else ""
        lines.append(
            f"| {markdown_text(str(c.label))} | {c.mean:.2f} | {c.p5} | {c.p50} | {c.p95} | "
            f"{c.share_without:.4%} | {c.random_share_without:.4%} | "
            f"{c.variance:.2f} ({c.random_variance:.2f}){worse} |"
        )
    return lines


def _sweep_lines(sweep: SweepSection | None, batch_size: int) -> list[str]:
    if sweep is None:
        return []
    lines = [
        "",
        f"## Factor sweep: {len(sweep.factors)} factors from this one table",
        "",
        f"The table holds the rows of the smallest factor; `select_factor(df, F)` keeps those "
        f"of any larger F by their {markdown_code(sweep.draw_column)} and weighs them x F.",
        "",
        f"| F | expected rows | rows | minority rows | minority per batch of {batch_size} "
        "| weighted label mean (before -> after, tolerance) | bias check | counts within bound |",
        "|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for f in sweep.factors:
        lines.append(
            f"| {f.factor:,.6g} | {f.expected_rows_after:,.0f} | {f.rows_after:,} | "
            f"{f.minority_rows_after:,} | {f.minority_per_batch_after:.2f} | "
            f"{_mean_cell(f.bias_check)} | {f.bias_check.verdict} | "
            f"{'yes' if f.counts_within_bound else 'NO'} |"
        )
    lines += ["", *[f"- {markdown_text(line)}" for line in sweep.advice]]
    return lines


def _mean_cell(bias: BiasCheck) -> str:
    if bias.label_mean_before is None or bias.weighted_label_mean_after is None:
        return "shares only (labels are not numbers)"
    return (
        f"{bias.label_mean_before:.6f} -> {bias.weighted_label_mean_after:.6f} "
        f"(+/-{bias.label_mean_tolerance:.6f})"
    )


def _strata_lines(strata: StrataSection | None) -> list[str]:
    if strata is None:
        return []
    lines = [
        "",
        f"## Strata ({', '.join(map(markdown_code, strata.columns))}): "
        f"{strata.strata_planned:,} planned, "
        f"{strata.strata_kept_whole:,} kept whole",
        "",
        "| stratum | class | rows before | factor | expected after | rows after |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in strata.top:
        stratum = ", ".join(
            f"{markdown_text(name)}={_group_value(value)}" for name, value in row.stratum.items()
        )
        lines.append(
            f"| {stratum} | {markdown_text(row.label)} | {row.rows_before:,} | {row.factor:,.6g} | "
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
        f"Predicted probability p of class {markdown_text(minority)} -> p / (p + F * (1 - p)), "
        "i.e. add the logit offset -log(F): `rebalance_lib.calibrate(p, F)` (floats, numpy "
        "arrays, Spark Columns). With several downsampled classes, multiply each class's "
        "probability by its F and renormalise.",
        "",
        "| class | F | logit offset |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {markdown_text(entry.label)} | {entry.factor:,.6g} | {entry.logit_offset:+.6f} |"
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
        f"## Splits ({markdown_code(splits.column)}): only "
        f"'{markdown_text(splits.train_value)}' is rebalanced",
        "",
        "| split | rows before | rows after | rebalanced |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {_group_value(row.value)} | {row.rows_before:,} | {row.rows_after:,} | "
        f"{'yes' if row.rebalanced else 'no, weight unchanged'} |"
        for row in splits.splits
    ]
    return lines


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _mean_text(bias: BiasCheck) -> str:
    if bias.label_mean_before is None or bias.weighted_label_mean_after is None:
        return " (weighted class shares within tolerance)" if bias.verdict == "PASS" else ""
    return (
        f" (label mean {bias.label_mean_before:.6f} before, weighted "
        f"{bias.weighted_label_mean_after:.6f} after, tolerance +/-{bias.label_mean_tolerance:.6f})"
    )


def _group_value(value: str | None) -> str:
    """A stratum or split value on the page, escaped: a null group reads *null*, apart from
    the string 'None'."""
    return "*null*" if value is None else markdown_text(value)
