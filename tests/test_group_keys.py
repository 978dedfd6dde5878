"""NaN, -0.0 and 0.0, null and the text 'None': each one group, as Spark groups them, from
the plan to the report."""

from __future__ import annotations

import json
import math
from itertools import count
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import types as T

from rebalance_lib.api import Written, rebalance
from rebalance_lib.core.counts import ClassStats, GroupedProfile
from rebalance_lib.core.errors import InputError
from rebalance_lib.core.grouping import plan_grouping
from rebalance_lib.core.keys import NAN, canonical, group_key
from rebalance_lib.core.targets import TargetRequest
from rebalance_lib.report.markdown import to_markdown
from rebalance_lib.report.model import Report

FACTOR = 5.0
# The float values a group column takes, as written; 0.0 and -0.0 are one group.
FLOATS: dict[str, float | None] = {
    "zero": 0.0,
    "minus zero": -0.0,
    "one": 1.0,
    "nan": math.nan,
    "null": None,
}
# How the report names each group of FLOATS (str of the one key; null stays null).
SHOWN = {"zero": "0.0", "minus zero": "0.0", "one": "1.0", "nan": "nan", "null": None}
SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType()),
        T.StructField("f", T.DoubleType()),
        T.StructField("label", T.IntegerType()),
    ]
)
# Spark runs every example: the one with every value, and one more, the same each time, not
# shrunk (minutes of Spark).
SPARK_EXAMPLES = settings(
    max_examples=1,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_outputs = count()

# Rows per float value: (negatives, positives); factor 5 keeps negatives above positives.
value_rows = st.dictionaries(
    keys=st.sampled_from(sorted(FLOATS)),
    values=st.tuples(st.integers(300, 600), st.integers(20, 60)),
    min_size=2,
    max_size=5,
)


def float_group_df(spark: SparkSession, rows: dict[str, tuple[int, int]]) -> DataFrame:
    data = []
    for name, (negatives, positives) in rows.items():
        data += [(FLOATS[name], 0)] * negatives + [(FLOATS[name], 1)] * positives
    return spark.createDataFrame(
        [(index, value, label) for index, (value, label) in enumerate(data)], SCHEMA
    )


def merged(rows: dict[str, tuple[int, int]]) -> dict[str | None, tuple[int, int]]:
    """The rows per group as the report names it: 0.0 and -0.0 together."""
    groups: dict[str | None, tuple[int, int]] = {}
    for name, (negatives, positives) in rows.items():
        seen = groups.get(SHOWN[name], (0, 0))
        groups[SHOWN[name]] = (seen[0] + negatives, seen[1] + positives)
    return groups


def in_group(shown: str | None) -> Column:
    """The rows of one reported group, as Spark SQL selects them."""
    f = F.col("f")
    if shown is None:
        return f.isNull()
    if shown == "nan":
        return F.isnan(f)
    # abs: Delta skips a file of only -0.0 on `f = 0.0` by its statistics (min = max = -0.0).
    return F.abs(f) == float(shown)


def counted(output_df: DataFrame, groups: dict[object, Column]) -> dict[object, int]:
    """Rows of each group, counted by Spark SQL in one job."""
    names = {f"_{index}": key for index, key in enumerate(groups)}
    row = output_df.agg(
        *[
            F.count_if(condition).alias(name)
            for name, condition in zip(names, groups.values(), strict=True)
        ]
    ).first()
    assert row is not None
    return {key: row[name] for name, key in names.items()}


def write(out_df: DataFrame, root: Path) -> tuple[Written, DataFrame, Report]:
    written = out_df.write(str(root / f"out{next(_outputs)}"))
    assert written.report is not None
    output_df = out_df.df.sparkSession.read.format("delta").load(written.path)
    return written, output_df, written.report


def test_every_nan_is_one_key_and_zero_one_key_and_null_not_the_text_none() -> None:
    assert group_key([float("nan"), -0.0]) == group_key([math.nan, 0.0])
    assert {group_key([float("nan")]): 1}[group_key([float("-nan")])] == 1
    assert str(canonical(-0.0)) == "0.0" and canonical(NAN) is NAN
    assert len({group_key([None]), group_key(["None"])}) == 2
    assert canonical(True) is True and canonical(3) == 3


def collected(name: str, label: int) -> tuple[object, ...]:
    """A group's key as built from one row collected from Spark: each NaN a new float."""
    value = float("nan") if name == "nan" else FLOATS[name]
    return group_key([value, label])


@given(value_rows)
def test_the_plan_of_a_nan_stratum_is_found_from_keys_collected_apart(
    rows: dict[str, tuple[int, int]],
) -> None:
    groups: dict[tuple[object, ...], ClassStats] = {}
    for name, counts in rows.items():
        for label, rows_in_group in enumerate(counts):
            key = collected(name, label)
            seen = groups.get(key, ClassStats(0, 0.0, 0.0)).rows
            groups[key] = ClassStats.unweighted(seen + rows_in_group)
    grouping = plan_grouping(
        GroupedProfile(groups, 0, 0),
        "label",
        ("f",),
        None,
        None,
        TargetRequest(factor=FACTOR),
        128,
        None,
        None,
        False,
    )
    totals = {collected(name, label): (1, 1.0) for name in rows for label in (0, 1)}
    per_group, _ = grouping.outcomes(totals)
    assert set(per_group) == set(groups)
    assert all(o.rows_after == 1 for o in per_group.values())
    assert all(o.factor == FACTOR for key, o in per_group.items() if key[-1] == 0)


EVERY_VALUE = {name: (300 + 10 * index, 20 + index) for index, name in enumerate(sorted(FLOATS))}


@SPARK_EXAMPLES
@example(rows=EVERY_VALUE, exact=True)
@given(value_rows, st.booleans())
def test_float_strata_with_nan_null_and_signed_zero_are_planned_and_counted_as_spark_groups(
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
    rows: dict[str, tuple[int, int]],
    exact: bool,
) -> None:
    input_df = float_group_df(spark, rows)
    options = {"sampler": "hash", "sample_key": "id", "exact": True} if exact else {}
    _, output_df, report = write(
        rebalance(input_df, factor=FACTOR, strata=["label", "f"], seed=3, **options),  # type: ignore[arg-type]  # options are keyword arguments of rebalance
        tmp_path_factory.mktemp("strata"),
    )
    assert report.strata is not None and report.checks_passed
    expected = merged(rows)
    reported = {(row.stratum["f"], row.label): row for row in report.strata.top}
    assert set(reported) == {(shown, label) for shown in expected for label in (0, 1)}
    kept = counted(
        output_df,
        {(shown, label): in_group(shown) & (F.col("label") == label) for shown, label in reported},
    )
    for (shown, label), row in reported.items():
        assert (row.rows_before, row.rows_after) == (expected[shown][label], kept[shown, label])
        assert row.factor == (FACTOR if label == 0 else 1.0)
        if exact and label == 0:
            assert row.rows_after == round(expected[shown][0] / FACTOR)
    for c in report.classes:
        assert c.rows_after == sum(kept[shown, c.label] for shown in expected)


@SPARK_EXAMPLES
@example(rows=EVERY_VALUE, train="nan")
@given(value_rows, st.sampled_from(sorted(FLOATS)))
def test_a_float_split_column_with_nan_and_null_lists_each_split_once_with_its_rows(
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
    rows: dict[str, tuple[int, int]],
    train: str,
) -> None:
    assume(train in rows and train != "null")
    input_df = float_group_df(spark, rows)
    _, output_df, report = write(
        rebalance(input_df, factor=FACTOR, split_col="f", train_value=str(FLOATS[train]), seed=3),
        tmp_path_factory.mktemp("split"),
    )
    assert report.splits is not None and report.checks_passed
    expected = merged(rows)
    assert [split.value for split in report.splits.splits] == sorted(
        expected, key=lambda shown: (shown is None, str(shown))
    )
    kept = counted(
        output_df, {split.value: in_group(split.value) for split in report.splits.splits}
    )
    for split in report.splits.splits:
        assert (split.rows_before, split.rows_after) == (
            sum(expected[split.value]),
            kept[split.value],
        )
        assert split.rebalanced == (split.value == SHOWN[train])
        if not split.rebalanced:
            assert split.rows_after == split.rows_before


def test_a_null_group_and_the_text_none_stay_apart_in_report_json_and_on_the_page(
    spark: SparkSession, tmp_path: Path
) -> None:
    data = [(None, 0)] * 300 + [(None, 1)] * 40 + [("None", 0)] * 200 + [("None", 1)] * 50
    input_df = spark.createDataFrame(data, "country string, label int")
    written, _, report = write(rebalance(input_df, factor=FACTOR, strata=["country"]), tmp_path)
    assert report.strata is not None
    stored = json.loads((Path(str(written.report_dir)) / "report.json").read_text())
    rows = {
        (row["stratum"]["country"], row["label"]): row["rows_before"]
        for row in stored["strata"]["top"]
    }
    assert rows == {(None, 0): 300, (None, 1): 40, ("None", 0): 200, ("None", 1): 50}
    page = to_markdown(report)
    assert "| country=*null* | 0 | 300 |" in page and "| country=None | 0 | 200 |" in page
    stored["schema_version"] = 1  # a report written before null had its own value
    assert Report.model_validate(stored).strata == report.strata


def test_a_nan_label_is_still_refused(spark: SparkSession) -> None:
    input_df = spark.createDataFrame([(0.0,), (1.0,), (math.nan,)], "label double")
    with pytest.raises(InputError, match="not whole numbers"):
        _ = rebalance(input_df, factor=FACTOR).plan  # counted on first use
