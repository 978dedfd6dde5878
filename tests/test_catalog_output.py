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
