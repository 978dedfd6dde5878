"""The YAML door: one typed configuration (conf/default.yaml) with command-line overrides,
resolved into exactly the API's arguments. Nothing below the doors sees this object."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from rebalance_lib.api import RebalanceOptions
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.options import DEFAULT_SEED, LABEL_COL, WEIGHT_COL
from rebalance_lib.core.plan import DEFAULT_BATCH_SIZE
from rebalance_lib.core.targets import CLASS_TARGET_FORMS, TABLE_TARGET_FORMS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputConfig(_Section):
    source: str | None = None
    format: Literal["delta", "parquet", "table"] = "delta"
    version: int | None = Field(default=None, ge=0)


class LabelConfig(_Section):
    column: str = LABEL_COL
    minority: int | bool | str | float | None = None
    null_labels: Literal["error", "drop"] = "error"
    classes: list[int | bool | str | float] | None = None


# How much to downsample: the request's forms (factor, target_ratio, ...), at most one set;
# generated from the one request type so the two cannot drift apart. The per-class forms map
# label values to a number each (`class_targets: {0: 100000, 2: 5000}`).
TargetSection: Any = create_model(
    "TargetSection",
    __base__=_Section,
    **{form: (float | None, None) for form in TABLE_TARGET_FORMS},  # type: ignore[call-overload]  # pydantic's field specs
    **{form: (dict[int | bool | str | float, float] | None, None) for form in CLASS_TARGET_FORMS},
)


class SampleConfig(_Section):
    method: Literal["sampleBy", "hash"] = "sampleBy"
    seed: int = DEFAULT_SEED
    key: list[str] = Field(default_factory=list)
    one_pass: bool = False
    strata: list[str] = Field(default_factory=list)
    exact: bool = False
    factors: list[float] | None = None


class SplitConfig(_Section):
    column: str | None = None
    train_value: int | bool | str | float = "train"


class WeightConfig(_Section):
    column: str = WEIGHT_COL
    input_column: str | None = None
    basis: Literal["nominal", "realized"] = "nominal"


class OutputConfig(_Section):
    path: str | None = None
    mode: Literal["error", "overwrite", "append"] = "error"
    report_dir: str | None = None
    run_id: str | None = None
    incremental: bool = False
    partition_by: list[str] | None = None
    cluster_by: list[str] | None = None
    into_partition: dict[str, str] | None = None
    row_order: Literal["shuffled", "input"] = "shuffled"


class SparkConfig(_Section):
    master: str = "local[*]"
    remote: str | None = None  # a Spark Connect server, sc://HOST:PORT (or SPARK_REMOTE)
    app_name: str | None = None  # default: what runs, "rebalance <input> -> <output>"
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _as_strings(cls, conf: Any) -> Any:
        # Spark settings are strings; YAML reads `64` and `true` as a number and a boolean.
        if not isinstance(conf, dict):
            return conf
        return {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in conf.items()
        }


class RebalanceConfig(_Section):
    """Everything one run needs; every field has the default documented in conf/default.yaml."""

    input: InputConfig = InputConfig()
    label: LabelConfig = LabelConfig()
    target: TargetSection = TargetSection()
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    sample: SampleConfig = SampleConfig()
    split: SplitConfig = SplitConfig()
    weight: WeightConfig = WeightConfig()
    output: OutputConfig = OutputConfig()
    spark: SparkConfig = SparkConfig()

    def rebalance_options(self) -> RebalanceOptions:
        """The keyword arguments of ``rebalance``/``rebalance_table`` this config asks for."""
        options: dict[str, Any] = {
            "label": self.label.column,
            "null_labels": self.label.null_labels,
            "weight_col": self.weight.column,
            "batch_size": self.batch_size,
            "strata": list(self.sample.strata),
            "train_value": self.split.train_value,
            "sampler": self.sample.method,
            "seed": self.sample.seed,
            "sample_key": list(self.sample.key),
            "exact": self.sample.exact,
            "weight_basis": self.weight.basis,
            "minority": self.label.minority,
            "input_weight_col": self.weight.input_column,
            "split_col": self.split.column,
            "factors": self.sample.factors,
            "row_order": self.output.row_order,
            **self.target.model_dump(),
        }
        return {key: value for key, value in options.items() if value is not None}  # type: ignore[return-value]  # keys are RebalanceOptions'


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> RebalanceConfig:
    """Load a YAML config file (optional), apply dotted-key overrides, validate.

    Example:
        >>> load_config(overrides={"target.factor": 20}).target.factor
        20.0
    """
    raw = _read_yaml(Path(path)) if path is not None else {}
    for dotted_key, value in (overrides or {}).items():
        _set_dotted(raw, dotted_key, value)
    try:
        return RebalanceConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_one_line(error, path)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass --config an existing YAML file")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        reason = str(error).replace("\n", " ")
        raise ConfigError(f"config file {path} is not valid YAML: {reason}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections, not {type(loaded).__name__}"
        )
    return loaded


def _set_dotted(raw: dict[str, Any], dotted_key: str, value: Any) -> None:
    parts = dotted_key.split(".")
    if parts[:2] == ["spark", "conf"] and len(parts) > 2:
        parts = [*parts[:2], ".".join(parts[2:])]  # Spark's own keys are dotted
    *sections, leaf = parts
    node = raw
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted_key}: {section} is not a section")
        node = child
    node[leaf] = value


def _one_line(error: ValidationError, path: str | Path | None) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    where = f"config file {path}" if path is not None else "configuration"
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key '{key}'; see conf/default.yaml for the accepted keys"
    return f"{where}: '{key}' {first['msg'].lower()} (got {first.get('input')!r})"


def parse_override(assignment: str) -> tuple[str, Any]:
    """Parse ``section.key=value`` from ``--set``; the value is read as YAML (numbers, lists)."""
    if "=" not in assignment:
        raise ConfigError(f"--set takes section.key=value (got {assignment!r})")
    key, text = assignment.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"--set {assignment!r}: the value is not valid YAML ({reason})") from None
