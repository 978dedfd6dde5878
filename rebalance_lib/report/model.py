"""The run report: one validated model; JSON is its own serialization (report.json)."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from rebalance_lib.core.checks import BiasCheck
from rebalance_lib.core.keys import canonical
from rebalance_lib.core.plan import shown_positions

# 2: a null stratum or split value is JSON null, apart from the text 'None' (1 wrote both as
# "None"). 3: the written rows' order and each class per batch in file order. Reports of
# versions 1 and 2 still validate.
REPORT_SCHEMA_VERSION: Final = 3


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
    label: int | bool | str | float
    rows_before: int
    factor: float
    keep_fraction: float
    weight_multiplier: float
    expected_rows_after: float
    rows_after: int
    deviation_sigmas: float | None
    weighted_total_before: float
    weighted_total_after: float


class FileOrderSection(_Model):
    """One class in the full batches of B consecutive rows of the written files, in the
    order a reader of the commit lists them, against what random batches give."""

    label: int | bool | str | float
    batches: int
    mean: float
    p5: int
    p50: int
    p95: int
    share_without: float  # of the batches, the share holding no row of the class
    random_share_without: float  # the same for random batches: (1 - share) ** B
    variance: float
    random_variance: float
    worse_than_random: bool  # the spread is beyond what a random order allows


class BatchSection(_Model):
    batch_size: int
    minority_label: int | bool | str | float
    minority_per_batch_before: float
    minority_per_batch_after: float
    degree_before: str
    degree_after: str
    ratio_before: float
    ratio_after: float
    row_order: Literal["shuffled", "input"] = "input"
    file_order: list[FileOrderSection] = []


class StratumSection(_Model):
    stratum: dict[str, str | None]
    label: int | bool | str | float
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
    value: str | None
    rows_before: int
    rows_after: int
    rebalanced: bool


class SplitSection(_Model):
    column: str
    train_value: str
    splits: list[SplitRow]


class CalibrationSection(_Model):
    label: int | bool | str | float
    factor: float
    logit_offset: float


class FactorSection(_Model):
    """One factor of a sweep, as selected from the written table."""

    factor: float
    expected_rows_after: float
    rows_after: int
    minority_rows_after: int
    minority_per_batch_after: float
    counts_within_bound: bool
    bias_check: BiasCheck
    checks_passed: bool


class SweepSection(_Model):
    """A factor sweep: the table holds the smallest factor's rows; ``draw_column`` selects
    every other (``rebalance_lib.select_factor``)."""

    draw_column: str
    factors: list[FactorSection]
    advice: list[str]


class Report(_Model):
    """Everything a user needs to trust a rebalanced table without opening it."""

    schema_version: Literal[1, 2, 3] = REPORT_SCHEMA_VERSION
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
    bias_check: BiasCheck
    # Every class kept rows, counts within bound and the bias check passed.
    checks_passed: bool = True
    batch: BatchSection
    advice: list[str]
    timings_s: dict[str, float]
    strata: StrataSection | None = None
    splits: SplitSection | None = None
    calibration: list[CalibrationSection] = []
    sweep: SweepSection | None = None


def shown_classes(report: Report) -> tuple[list[ClassSection], list[ClassSection]]:
    """The classes a page or a chart lists (the largest and the minority, in label order),
    and the rest, which report.json still holds one by one."""
    classes = report.classes
    minority_key = canonical(report.batch.minority_label)
    minority = next((i for i, c in enumerate(classes) if canonical(c.label) == minority_key), None)
    chosen = set(shown_positions([c.rows_before for c in classes], minority))
    shown = [c for i, c in enumerate(classes) if i in chosen]
    return shown, [c for i, c in enumerate(classes) if i not in chosen]


def report_json_schema() -> dict[str, Any]:
    """The documented JSON Schema that every report.json validates against."""
    return Report.model_json_schema()
