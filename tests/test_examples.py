"""The examples in the docstrings above the pure core run on real Spark and give what they
show: the names they use (``events_df``, ``train_df``, ``model``, ``output_path`` ...) are
defined here, on small tables, so an example that drifts from the code fails."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark.sql.functions as F
import pytest
from pyspark.ml.classification import LogisticRegression, MultilayerPerceptronClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

import rebalance_lib
from rebalance_lib import rebalance, rebalance_table, select_factor
from rebalance_lib.core.calibration import BinaryCorrection
from rebalance_lib.ml import RebalancedEstimator
from rebalance_lib.storage.source import read_source
from rebalance_lib.transforms.lookup import GroupNumbers

pytestmark = pytest.mark.jvm

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _docstrings_with_examples() -> list[doctest.DocTest]:
    """Every docstring with an example, in every module but the core's (the fast lane runs
    those without Spark)."""
    names = ["rebalance_lib"] + [
        info.name
        for info in pkgutil.walk_packages(rebalance_lib.__path__, "rebalance_lib.")
        if not info.name.startswith("rebalance_lib.core")
    ]
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: dict[str, doctest.DocTest] = {}
    for name in names:
        module = importlib.import_module(name)
        for test in finder.find(module):
            # A name imported into another module is found there too: keep its own module's.
            if test.examples and test.filename == module.__file__:
                found.setdefault(test.name, test)
    return sorted(found.values(), key=lambda test: test.name)


DOCSTRINGS = _docstrings_with_examples()


def events(spark: SparkSession) -> DataFrame:
    """A million events, 5,000 of them positive (the first ids); 900 of those in NZ."""
    return (
        spark.range(1_000_000)
        .withColumn("label", (F.col("id") < 5_000).cast("int"))
        .withColumn("is_fraud", F.col("label"))
        .withColumn(
            "country",
            F.when(F.col("id") < 900, "NZ").otherwise(
                F.element_at(
                    F.array(F.lit("AU"), F.lit("DE"), F.lit("US")),
                    (F.col("id") % 3 + 1).cast("int"),
                )
            ),
        )
        .withColumn("amount", (F.col("id") % 997).cast("double"))
    )


def training_rows(spark: SparkSession, rows: int, seed: int) -> DataFrame:
    """Two features, a label at about 5% that depends on them."""
    features_df = (
        spark.range(rows)
        .withColumn("x1", F.rand(seed))
        .withColumn("x2", F.randn(seed + 1))
        .withColumn("label", ((F.col("x1") + 0.1 * F.col("x2")) > 0.95).cast("double"))
    )
    return VectorAssembler(inputCols=["x1", "x2"], outputCol="features").transform(features_df)


@pytest.fixture(scope="module")
def shared_names(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """What the examples use and do not make themselves; made once for the module."""
    source_path = str(tmp_path_factory.mktemp("examples") / "events")
    events(spark).write.format("delta").save(source_path)
    events_df = spark.read.format("delta").load(source_path)
    train_df = training_rows(spark, 20_000, seed=3)
    test_df = training_rows(spark, 5_000, seed=11)
    lr = LogisticRegression(featuresCol="features")
    model = RebalancedEstimator(estimator=lr, factor=10.0, seed=5).fit(train_df)
    dotted = T.StructType([T.StructField("y.is_fraud", T.IntegerType())])
    yield {
        "spark": spark,
        "F": F,
        "source_path": source_path,
        "events_df": events_df,
        "kept_df": events_df,
        "rows_df": events_df,
        "drawn_df": events_df.withColumn("rebalance_draw", F.rand(7)),
        "df": spark.createDataFrame([(1,)], dotted),
        "train_df": train_df,
        "test_df": test_df,
        "lr": lr,
        "model": model,
        "scored_df": model.transform(test_df),
        "grid": ParamGridBuilder().build(),
        "evaluator": BinaryClassificationEvaluator(),
        "LogisticRegression": LogisticRegression,
        "MultilayerPerceptronClassifier": MultilayerPerceptronClassifier,
        "ParamGridBuilder": ParamGridBuilder,
        "CrossValidator": CrossValidator,
        "BinaryCorrection": BinaryCorrection,
        "GroupNumbers": GroupNumbers,
        "rebalance": rebalance,
        "rebalance_table": rebalance_table,
        "select_factor": select_factor,
        "read_source": read_source,
    }


@pytest.mark.parametrize("docstring", DOCSTRINGS, ids=[test.name for test in DOCSTRINGS])
def test_a_docstring_example_gives_what_it_shows(
    spark: SparkSession,
    shared_names: dict[str, Any],
    tmp_path: Path,
    docstring: doctest.DocTest,
) -> None:
    source_df, source = read_source(spark, shared_names["source_path"])
    docstring.globs.update(
        shared_names,
        output_path=str(tmp_path / "events_rebalanced"),
        model_path=str(tmp_path / "model"),
        sweep_path=str(tmp_path / "events_sweep"),
        source_df=source_df,
        source=source,
        path=str(tmp_path / "out"),
    )
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    said: list[str] = []
    runner.run(docstring, out=said.append)
    assert runner.failures == 0, "".join(said)


def test_the_examples_above_the_core_are_found() -> None:
    examples = sum(len(test.examples) for test in DOCSTRINGS)
    assert len(DOCSTRINGS) >= 20 and examples >= 40, (len(DOCSTRINGS), examples)
