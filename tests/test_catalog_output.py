"""A catalog table as the output: the same modes and refusals as a path, on a classic session."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from conftest import labelled_df, run_rebalance, within_binomial_bound, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.core.errors import OutputError

ROWS, MINORITY_ROWS, FACTOR = 20_000, 400, 5


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_delta(labelled_df(spark, ROWS, MINORITY_ROWS), tmp_path_factory.mktemp("c") / "in")


def new_table() -> str:
    return f"default.rebalanced_{uuid.uuid4().hex[:12]}"


def test_a_table_is_created_then_overwritten_then_appended_to(
    spark: SparkSession, source: str, tmp_path: Path
) -> None:
    name = new_table()
    output = f"table:{name}"
    first = run_rebalance(spark, source, Path(output), **{"target.factor": FACTOR})
    assert first.report is not None
    counts = dict(spark.table(name).groupBy("label").count().collect())
    assert counts[1] == MINORITY_ROWS
    assert within_binomial_bound(counts[0], ROWS - MINORITY_ROWS, 1 / FACTOR)

    with pytest.raises(OutputError, match=f"table {name} already exists"):
        run_rebalance(spark, source, Path(output), **{"target.factor": FACTOR})

    run_rebalance(spark, source, Path(output), **{"target.factor": 2, "output.mode": "overwrite"})
    overwritten = dict(spark.table(name).groupBy("label").count().collect())
    assert overwritten[1] == MINORITY_ROWS
    assert within_binomial_bound(overwritten[0], ROWS - MINORITY_ROWS, 1 / 2)

    run_rebalance(spark, source, Path(output), **{"target.factor": 2, "output.mode": "append"})
    assert spark.table(name).filter("label = 1").count() == 2 * MINORITY_ROWS
    properties = {row[0]: row[1] for row in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    assert "rebalance.runId" in properties


def test_a_table_that_is_not_delta_is_refused_and_left_alone(
    spark: SparkSession, source: str
) -> None:
    name = new_table()
    spark.sql(f"CREATE TABLE {name} (id BIGINT) USING parquet")
    spark.sql(f"INSERT INTO {name} VALUES (7)")
    with pytest.raises(OutputError, match=f"table {name} exists and is not a Delta table"):
        run_rebalance(
            spark,
            source,
            Path(f"table:{name}"),
            **{"target.factor": FACTOR, "output.mode": "overwrite"},
        )
    assert [row[0] for row in spark.table(name).collect()] == [7]


@pytest.mark.parametrize(
    "name",
    [
        "rebalanced_{key}",  # one part: the session's current database (two: the tests above)
        # parts that SQL reads only in backticks (a name of digits), written in SQL form; the
        # session catalog allows letters, digits and _ only
        "spark_catalog.`default`.`{digits}`",
    ],
)
def test_a_table_name_of_one_two_or_three_parts_is_written_refused_and_read_back(
    spark: SparkSession, source: str, name: str
) -> None:
    name = name.format(key=uuid.uuid4().hex[:8], digits=str(uuid.uuid4().int)[:12])
    written = run_rebalance(spark, source, Path(f"table:{name}"), **{"target.factor": FACTOR})
    assert written.report is not None and written.report.bias_check.verdict == "PASS"
    assert spark.table(name).filter("label = 1").count() == MINORITY_ROWS

    with pytest.raises(OutputError, match="already exists"):
        run_rebalance(spark, source, Path(f"table:{name}"), **{"target.factor": FACTOR})

    # The table as the next run's input, pinned at its version, into a table beside it.
    beside = f"{name.rpartition('.')[0]}.again_{uuid.uuid4().hex[:8]}".lstrip(".")
    settings = {"input.format": "table", "input.version": 0, "weight.input_column": "weight"}
    reread = run_rebalance(spark, name, Path(f"table:{beside}"), **settings, **{"target.factor": 2})
    assert reread.report is not None
    assert (reread.report.source.name, reread.report.source.delta_version) == (name, 0)
    assert reread.report.source.rows == spark.table(name).count()
    assert spark.table(beside).filter("label = 1").count() == MINORITY_ROWS
