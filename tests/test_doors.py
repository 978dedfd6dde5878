"""How the doors resolve their arguments and name the fix: pure Python, no JVM."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from rebalance_lib.api import resolve_options
from rebalance_lib.cli import build_parser, config_from_args, flag_setting
from rebalance_lib.core.errors import ConfigError, InputError, PlanError
from rebalance_lib.core.options import Sampling


def test_a_library_error_names_the_api_parameter_and_the_cli_names_the_flag() -> None:
    error = InputError("3 rows have a null label: clean them", fix={"null_labels": "drop"})
    assert str(error) == "3 rows have a null label: clean them [null_labels='drop']"
    assert error.render(flag_setting) == "3 rows have a null label: clean them [--null-labels drop]"


@pytest.mark.parametrize(
    ("parameter", "value", "said"),
    [
        ("factor", None, "--factor"),
        ("exact", True, "--exact"),
        ("one_pass", False, "leave out --one-pass"),
        ("classes", [0, 1], "--classes 0,1"),
        ("incremental_into", None, "--incremental"),
        ("mode", "overwrite", "--mode overwrite"),
    ],
)
def test_flags_are_named_as_users_type_them(parameter: str, value: Any, said: str) -> None:
    assert flag_setting(parameter, value) == said
    flag = next(word for word in said.split() if word.startswith("--"))
    assert flag in run_flags()


def run_flags() -> set[str]:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return {flag for action in commands.choices["run"]._actions for flag in action.option_strings}


def test_every_flag_of_run_reaches_the_api_as_the_same_option() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--input",
            "/in",
            "--output",
            "/out",
            "--target-ratio",
            "5",
            "--label",
            "y",
            "--minority",
            "fraud",
            "--null-labels",
            "drop",
            "--input-weight-col",
            "w",
            "--weight-col",
            "wt",
            "--batch-size",
            "256",
            "--strata",
            "y,country",
            "--split-col",
            "split",
            "--train-value",
            "tr",
            "--sampler",
            "hash",
            "--sample-key",
            "user,day",
            "--seed",
            "9",
            "--exact",
            "--weight-basis",
            "realized",
        ]
    )
    options = resolve_options(config_from_args(args).rebalance_options())
    assert options.request.target_ratio == 5 and options.request.factor is None
    assert (options.label_col, options.minority, options.null_labels) == ("y", "fraud", "drop")
    assert (options.input_weight_col, options.weight_col, options.batch_size) == ("w", "wt", 256)
    assert options.strata_columns == ("country",) and options.is_grouped
    assert (options.split_col, options.train_value) == ("split", "tr")
    assert options.sampling == Sampling("hash", 9, ("user", "day"), True, "realized")


@pytest.mark.parametrize(
    ("options", "error_type", "message"),
    [
        ({"factor": 2, "seed": 1.5}, ConfigError, "seed must be a whole number"),
        ({"factor": 2, "exact": False, "weight_basis": "realized"}, ConfigError, "exact"),
        ({"target_ratio": 0.5}, PlanError, "target ratio is majority:minority"),
    ],
)
def test_bad_options_are_refused_before_spark_is_touched(
    options: dict[str, Any], error_type: type[Exception], message: str
) -> None:
    with pytest.raises(error_type, match=message):
        resolve_options(options)  # type: ignore[arg-type]  # deliberately wrong values
