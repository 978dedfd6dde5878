"""Per-group numbers: the CASE for a few groups and the joined plan table for many agree."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from rebalance_lib.transforms import lookup
from rebalance_lib.transforms.lookup import GroupNumbers, with_group_numbers

ROWS = [
    (0, "NZ", 1.5),
    (1, "NZ", 2.5),
    (0, None, 3.5),
    (1, None, 4.5),
    (2, "FR", 5.5),  # a group not listed: the default
    (None, "NZ", 6.5),
]
SCHEMA = "label int, country string, x double"
NUMBERS = {
    "keep": GroupNumbers({(0, "NZ"): 0.1, (1, "NZ"): 1.0, (0, None): 0.2, (None, "NZ"): 0.3}, 0.5),
    "group": GroupNumbers({(1, None): 7, (0, "NZ"): 3}, -1, T.IntegerType()),
}
EXPECTED = [
    (0, "NZ", 1.5, 0.1, 3),
    (1, "NZ", 2.5, 1.0, -1),
    (0, None, 3.5, 0.2, -1),
    (1, None, 4.5, 0.5, 7),
    (2, "FR", 5.5, 0.5, -1),
    (None, "NZ", 6.5, 0.3, -1),
]


@pytest.mark.parametrize("inline_max_groups", [32, 0], ids=["case", "joined"])
def test_each_row_gets_its_groups_numbers(
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    inline_max_groups: int,
) -> None:
    monkeypatch.setattr(lookup, "INLINE_MAX_GROUPS", inline_max_groups)
    numbered_df = spark.createDataFrame(ROWS, SCHEMA).transform(
        with_group_numbers, ["label", "country"], NUMBERS
    )
    assert numbered_df.columns == ["label", "country", "x", "keep", "group"]
    assert dict(numbered_df.dtypes)["group"] == "int"
    assert sorted(map(tuple, numbered_df.collect()), key=lambda row: row[2]) == EXPECTED
    capsys.readouterr()
    numbered_df.explain()
    assert ("BroadcastHashJoin" in capsys.readouterr().out) == (inline_max_groups == 0)
