"""RebalancedEstimator and RebalancedModel over Spark Connect, on the suite's Connect server:
a fit with default arguments, scoring, a cross-validation over the factor and an inner param,
and persistence."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.ml import RebalancedEstimator, RebalancedModel

pytestmark = pytest.mark.jvm

Connect = Callable[[], AbstractContextManager[SparkSession]]
ROWS = 20_000
# As in test_ml: a weighted fit matches the weighted positives exactly (the intercept's score
# equation), so the mean predicted probability strays from the base rate only by the
# negatives' sampling, about 2% here; 15% is some seven sd.
RELATIVE_TOLERANCE = 0.15


def events(remote: SparkSession) -> DataFrame:
    """``label`` from a true logistic model, logit p = -4 + 1.5 x: about 4% positives."""
    true_p = 1 / (1 + F.exp(-(F.lit(-4.0) + 1.5 * F.col("x"))))
    return (
        remote.range(0, ROWS, 1, 4)
        .withColumn("x", F.randn(11))
        .withColumn("label", (F.rand(12) < true_p).cast("int"))
        .withColumn("features", array_to_vector(F.array("x")))
    )


def mean_probability_and_rate(scored_df: DataFrame) -> tuple[float, float]:
    row = scored_df.select(
        F.avg(vector_to_array("probability")[1]).alias("mean_p"), F.avg("label").alias("rate")
    ).first()
    assert row is not None
    return float(row["mean_p"]), float(row["rate"])


def test_a_default_fit_over_connect_trains_weighted_and_scores_every_row(
    connect: Connect,
) -> None:
    with connect() as remote:
        events_df = events(remote)
        # Nothing but the target: the inner estimator is trained on the weights by default.
        est = RebalancedEstimator(estimator=LogisticRegression(maxIter=50), factor=10.0)
        model = est.fit(events_df)
        assert model.plan.factor == 10.0
        assert model.inner_model.getOrDefault("weightCol") == "weight"
        scored_df = model.transform(events_df)
        assert scored_df.count() == ROWS
        mean_p, rate = mean_probability_and_rate(scored_df)
    assert mean_p == pytest.approx(rate, rel=RELATIVE_TOLERANCE), (mean_p, rate)


def test_a_cross_validation_over_connect_searches_the_factor_and_an_inner_param(
    connect: Connect,
) -> None:
    with connect() as remote:
        lr = LogisticRegression(maxIter=20)
        est = RebalancedEstimator(estimator=lr, factor=10.0, seed=5)
        grid = ParamGridBuilder().addGrid(est.factor, [5.0, 10.0]).addGrid(lr.regParam, [0.0, 0.1])
        cv = CrossValidator(
            estimator=est,
            estimatorParamMaps=grid.build(),
            evaluator=BinaryClassificationEvaluator(),
            numFolds=2,
            seed=3,
        )
        fitted = cv.fit(events(remote))
        best = fitted.bestModel
        assert len(fitted.avgMetrics) == 4
        assert all(0.5 < metric <= 1.0 for metric in fitted.avgMetrics), fitted.avgMetrics
    assert isinstance(best, RebalancedModel)
    assert best.plan.factor in (5.0, 10.0)
    assert best.inner_model.getOrDefault("regParam") in (0.0, 0.1)


def test_a_model_and_an_estimator_saved_over_connect_load_and_score_alike(
    connect: Connect, tmp_path: Path
) -> None:
    with connect() as remote:
        events_df = events(remote)
        est = RebalancedEstimator(estimator=LogisticRegression(maxIter=20), factor=8.0, seed=9)
        est.save(str(tmp_path / "estimator"))
        loaded_est = RebalancedEstimator.load(str(tmp_path / "estimator"))
        assert (loaded_est.getOrDefault("factor"), loaded_est.getOrDefault("seed")) == (8.0, 9)
        model = est.fit(events_df)
        model.save(str(tmp_path / "model"))
        loaded = RebalancedModel.load(str(tmp_path / "model"))
        assert loaded.plan == model.plan

        def probabilities(scoring: RebalancedModel) -> list[float]:
            scored_df = scoring.transform(events_df).orderBy("id").limit(200)
            return [row[0] for row in scored_df.select(vector_to_array("probability")[1]).collect()]

        assert probabilities(loaded) == pytest.approx(probabilities(model), abs=1e-12)


def test_overwriting_a_saved_model_over_connect_is_refused_in_one_line_and_keeps_it(
    connect: Connect, tmp_path: Path
) -> None:
    """A Connect client cannot remove files on the server's file system (pyspark's own
    overwrite calls the driver's JVM, which the client lacks): an existing path is refused
    before anything is written, and what was saved there still loads."""
    path = str(tmp_path / "model")
    with connect() as remote:
        model = RebalancedEstimator(estimator=LogisticRegression(maxIter=10), factor=5.0).fit(
            events(remote)
        )
        model.write().overwrite().save(path)  # nothing there yet: nothing to remove
        with pytest.raises(OutputError) as refused:
            model.write().overwrite().save(path)
        assert "\n" not in str(refused.value)
        assert "cannot remove files on the server's file system" in str(refused.value)
        assert RebalancedModel.load(path).plan == model.plan
