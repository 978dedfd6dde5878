"""The API's arguments are checked by type before any Spark job (pure Python)."""

from __future__ import annotations

import pytest

from rebalance_lib.core.arguments import OPTION_TYPES, check_types
from rebalance_lib.core.errors import ConfigError


def test_counts_take_whole_numbers_as_yaml_and_the_command_line_give_them() -> None:
    check_types({"max_rows": 500.0, "min_minority_per_batch": 20, "batch_size": 64.0}, OPTION_TYPES)
    with pytest.raises(ConfigError, match=r"max_rows must be a whole number \(got 1.5, a float\)"):
        check_types({"max_rows": 1.5}, OPTION_TYPES)


def test_a_seed_is_an_integer_as_the_sampler_hashes_it() -> None:
    with pytest.raises(ConfigError, match=r"seed must be a whole number \(got 2.0, a float\)"):
        check_types({"seed": 2.0}, OPTION_TYPES)


def test_a_sample_key_is_one_column_name_or_a_list_of_them() -> None:
    check_types({"sample_key": "id"}, OPTION_TYPES)
    check_types({"sample_key": ["id", "day"]}, OPTION_TYPES)
    with pytest.raises(ConfigError, match="sample_key must be a column name or a list of them"):
        check_types({"sample_key": ["id", 3]}, OPTION_TYPES)
