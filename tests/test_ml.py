"""RebalancedEstimator: rebalances only the rows it trains on, scores every row, persists."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark.sql.functions as F
import pytest
from conftest import within_binomial_bound
from pyspark.ml import Estimator, Model, Pipeline
from pyspark.ml.classification import LogisticRegression, MultilayerPerceptronClassifier
from pyspark.ml.evaluation import Evaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.param.shared import HasLabelCol, HasProbabilityCol, HasWeightCol
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib import ml, rebalance
from rebalance_lib.core.errors import ConfigError, PlanError
from rebalance_lib.ml import RebalancedEstimator, RebalancedModel

ROWS = 40_000
FACTOR = 10.0
FOLDS = 2
# The spec's bound on the mean predicted probability against the base rate. A weighted fit
# matches the weighted positives exactly (the intercept's score equation), so only the
# negatives' sampling is left: sd of their weighted count / rows = F * sqrt(n p (1 - p)) /
# rows, about 1.5% here, so 15% is some ten sd. A calibrated fit also carries the intercept's
# estimation error, sqrt(1/positives + 1/kept negatives), about 5%: 15% is three sd.
RELATIVE_TOLERANCE = 0.15

Counts = Counter[tuple[int, int]]  # (fold, label) -> rows


@pytest.fixture(scope="module")
def events_df(spark: SparkSession) -> Iterator[DataFrame]:
    """``label`` from a true logistic model, logit p = -5.6 + 1.5 x: about 1% positives."""
    true_p = 1 / (1 + F.exp(-(F.lit(-5.6) + 1.5 * F.col("x"))))
    df = (
        spark.range(0, ROWS, 1, 4)
        .withColumn("x", F.randn(11))
        .withColumn("label", (F.rand(12) < true_p).cast("int"))
        .withColumn("features", array_to_vector(F.array("x")))
        .withColumn("fold", (F.col("id") % FOLDS).cast("int"))
        .cache()
    )
    yield df
    df.unpersist()


def rebalanced_lr(**params: Any) -> RebalancedEstimator:
    return RebalancedEstimator(
        estimator=LogisticRegression(maxIter=50), factor=FACTOR, seed=5, **params
    )


def persisted_rdds(spark: SparkSession) -> set[int]:
    """The ids of the RDDs the session holds persisted (cached DataFrames among them)."""
    return {int(rdd_id) for rdd_id in spark.sparkContext._jsc.getPersistentRDDs().keySet()}


def base_rate(df: DataFrame) -> float:
    return float(df.agg(F.avg("label")).first()[0])


def mean_probability(scored_df: DataFrame) -> float:
    """The mean predicted probability of the positive class."""
    return float(scored_df.agg(F.avg(vector_to_array("probability")[1])).first()[0])


def fold_counts(df: DataFrame) -> Counts:
    """Rows per (fold, label): a small aggregate."""
    rows = df.groupBy("fold", "label").count().collect()
    return Counter({(row["fold"], row["label"]): row["count"] for row in rows})


@pytest.fixture(scope="module")
def calibrated_model(events_df: DataFrame) -> RebalancedModel:
    # A classifier with no weightCol param: trained unweighted, its probabilities corrected.
    perceptron = MultilayerPerceptronClassifier(layers=[1, 2], maxIter=100, seed=1)
    estimator = RebalancedEstimator(estimator=perceptron, factor=FACTOR, seed=5, calibrate=True)
    return estimator.fit(events_df)


def test_a_default_fit_trains_with_the_weights_predicts_the_base_rate_and_scores_every_row(
    events_df: DataFrame,
) -> None:
    model = rebalanced_lr().fit(events_df)  # weightCol, calibrate and unweighted left alone
    scored_df = model.transform(events_df)
    assert scored_df.count() == ROWS  # the model never samples
    assert model.plan.rows_before == ROWS
    assert model.plan.factor == FACTOR
    assert model.inner_model.getOrDefault("weightCol") == "weight"
    assert mean_probability(scored_df) == pytest.approx(
        base_rate(events_df), rel=RELATIVE_TOLERANCE
    )


def test_an_unweighted_fit_over_predicts_the_minority_and_warns_once_when_asked(
    events_df: DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=ml.__name__):
        estimator = rebalanced_lr(unweighted=True)
        model = estimator.fit(events_df)
        estimator.copy().fit(events_df)  # as a validator fits its copies
    assert [record.message.split(":")[0] for record in caplog.records] == ["unweighted"]
    assert model.inner_model.getOrDefault("weightCol") == ""
    assert "weight" not in model.transform(events_df).columns
    assert mean_probability(model.transform(events_df)) > 3 * base_rate(events_df)


def test_a_calibrated_fit_predicts_the_base_rate_its_inner_model_misses(
    events_df: DataFrame, calibrated_model: RebalancedModel
) -> None:
    rate = base_rate(events_df)
    assert mean_probability(calibrated_model.inner_model.transform(events_df)) > 3 * rate
    scored_df = calibrated_model.transform(events_df)
    assert scored_df.count() == ROWS
    assert mean_probability(scored_df) == pytest.approx(rate, rel=RELATIVE_TOLERANCE)


def test_a_saved_model_loads_with_its_plan_and_predicts_identically(
    events_df: DataFrame, calibrated_model: RebalancedModel, tmp_path: Path
) -> None:
    path = tmp_path / "model"
    path.mkdir()
    (path / "stale").write_text("from an earlier save")
    calibrated_model.write().overwrite().save(str(path))
    assert not (path / "stale").exists()
    loaded = RebalancedModel.load(str(path))
    assert loaded.plan == calibrated_model.plan
    assert loaded.uid == calibrated_model.uid
    assert loaded.getOrDefault(loaded.calibrate) is True
    assert loaded.getOrDefault(loaded.factor) == FACTOR
    assert isinstance(loaded.getEstimator(), MultilayerPerceptronClassifier)
    assert_same_predictions(calibrated_model.transform(events_df), loaded.transform(events_df))


def assert_same_predictions(expected_df: DataFrame, actual_df: DataFrame) -> None:
    """Row by row (joined on ``id``): the same prediction and the same probabilities."""

    def scores(df: DataFrame, prefix: str) -> DataFrame:
        return df.select(
            "id",
            F.col("prediction").alias(f"{prefix}_prediction"),
            vector_to_array("probability").alias(f"{prefix}_probability"),
        )

    joined_df = scores(expected_df, "expected").join(scores(actual_df, "actual"), "id")
    differing = joined_df.filter(
        (F.col("expected_prediction") != F.col("actual_prediction"))
        | (F.col("expected_probability") != F.col("actual_probability"))
    )
    assert joined_df.count() == expected_df.count()
    assert differing.count() == 0


@pytest.mark.parametrize(
    "params",
    [
        {"weightCol": "w", "minority": 1, "sampler": "hash", "sampleKey": ["id"]},
        {"unweighted": True},
    ],
)
def test_a_saved_estimator_loads_with_its_params_and_inner_estimator(
    spark: SparkSession, tmp_path: Path, params: dict[str, Any]
) -> None:
    estimator = rebalanced_lr(**params)
    estimator.getEstimator().setRegParam(0.3)
    estimator.save(str(tmp_path / "estimator"))
    loaded = RebalancedEstimator.load(str(tmp_path / "estimator"))
    assert named_params(loaded) == named_params(estimator)
    assert loaded.getEstimator().getRegParam() == 0.3


def named_params(stage: RebalancedEstimator) -> dict[str, Any]:
    return {
        param.name: value
        for param, value in stage.extractParamMap().items()
        if param.name != "estimator"
    }


def test_a_pipeline_fits_its_stages_then_the_rebalanced_estimator(events_df: DataFrame) -> None:
    assembler = VectorAssembler(inputCols=["x"], outputCol="assembled")
    estimator = RebalancedEstimator(
        estimator=LogisticRegression(featuresCol="assembled", maxIter=20),
        factor=FACTOR,
    )
    pipeline_model = Pipeline(stages=[assembler, estimator]).fit(events_df)
    rebalanced_model = pipeline_model.stages[-1]
    assert isinstance(rebalanced_model, RebalancedModel)
    assert rebalanced_model.plan.rows_before == ROWS
    assert pipeline_model.transform(events_df).count() == ROWS


@pytest.mark.parametrize("targets", [{}, {"factor": FACTOR, "maxRows": 5_000}])
def test_exactly_one_target_is_needed_at_fit(events_df: DataFrame, targets: dict[str, Any]) -> None:
    estimator = RebalancedEstimator(estimator=LogisticRegression(), **targets)
    with pytest.raises(PlanError, match="exactly one target"):
        estimator.fit(events_df)


class CountingLogisticRegression(LogisticRegression):
    """Logistic regression that records the rows each fit is given, per (fold, label)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.seen: list[Counts] = []  # shared by copies: they are shallow

    def _fit(self, dataset: DataFrame) -> Any:
        self.seen.append(fold_counts(dataset))
        return super()._fit(dataset)


class CountingLogLoss(Evaluator):
    """Mean log loss of the probabilities; records the rows each evaluation is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Counts] = []  # shared by copies: they are shallow

    def _evaluate(self, dataset: DataFrame) -> float:
        positive = vector_to_array("probability")[1]
        loss = -F.when(F.col("label") == 1, F.log(positive)).otherwise(F.log(1 - positive))
        rows = (
            dataset.groupBy("fold", "label")
            .agg(F.count(F.lit(1)).alias("rows"), F.sum(loss).alias("loss"))
            .collect()
        )
        self.seen.append(Counter({(row["fold"], row["label"]): row["rows"] for row in rows}))
        return sum(row["loss"] for row in rows) / sum(row["rows"] for row in rows)

    def isLargerBetter(self) -> bool:  # noqa: N802  # Spark ML names it
        return False


class Tuned:
    """A cross-validation over regParam and factor, and what its fits and evaluations saw."""

    def __init__(self, events_df: DataFrame) -> None:
        self.lr = CountingLogisticRegression(maxIter=5)
        self.estimator = RebalancedEstimator(estimator=self.lr, factor=FACTOR, seed=5)
        # Both the inner estimator's param and the rebalance's, in three points, not four.
        self.grid = [
            {self.lr.regParam: 0.0, self.estimator.factor: FACTOR},
            {self.lr.regParam: 0.01, self.estimator.factor: FACTOR},
            {self.lr.regParam: 0.0, self.estimator.factor: 5.0},
        ]
        self.evaluator = CountingLogLoss()
        validator = CrossValidator(
            estimator=self.estimator,
            estimatorParamMaps=self.grid,
            evaluator=self.evaluator,
            numFolds=FOLDS,
            foldCol="fold",
            collectSubModels=True,
        )
        self.model = validator.fit(events_df)
        self.table_counts = fold_counts(events_df)


@pytest.fixture(scope="module")
def tuned(events_df: DataFrame) -> Tuned:
    return Tuned(events_df)


def test_cross_validation_searches_the_inner_params_and_the_factor(tuned: Tuned) -> None:
    assert isinstance(tuned.model.bestModel, RebalancedModel)
    assert len(tuned.model.avgMetrics) == len(tuned.grid)
    for fold_models in tuned.model.subModels:
        for params, model in zip(tuned.grid, fold_models, strict=True):
            assert model.inner_model.getRegParam() == params[tuned.lr.regParam]
            assert model.plan.factor == params[tuned.estimator.factor]


def test_each_fold_fit_sees_only_its_training_rows_rebalanced(tuned: Tuned) -> None:
    assert len(tuned.lr.seen) == FOLDS * len(tuned.grid) + 1  # and the best one refitted on all
    fits = iter(tuned.lr.seen)  # parallelism 1: fold by fold, the grid in order
    for held_out_fold, fold_models in enumerate(tuned.model.subModels):
        training = Counter(
            {key: rows for key, rows in tuned.table_counts.items() if key[0] != held_out_fold}
        )
        for model in fold_models:
            seen = next(fits)
            assert {fold for fold, _ in seen} == {fold for fold, _ in training}
            assert model.plan.rows_before == training.total()
            keep_fraction = model.plan.for_label(0).keep_fraction
            for (fold, label), rows in training.items():
                if label == 1:  # every positive of the training folds
                    assert seen[(fold, label)] == rows
                else:  # a sample of their negatives
                    assert within_binomial_bound(seen[(fold, label)], rows, keep_fraction)


def test_each_evaluation_sees_its_held_out_fold_untouched(tuned: Tuned) -> None:
    assert len(tuned.evaluator.seen) == FOLDS * len(tuned.grid)
    for seen in tuned.evaluator.seen:
        (held_out_fold,) = {fold for fold, _ in seen}
        held_out = {
            key: rows for key, rows in tuned.table_counts.items() if key[0] == held_out_fold
        }
        assert seen == held_out


def test_train_validation_split_rebalances_only_its_training_part(
    events_df: DataFrame,
) -> None:
    evaluator = CountingLogLoss()
    estimator = rebalanced_lr()
    split = TrainValidationSplit(
        estimator=estimator,
        estimatorParamMaps=ParamGridBuilder().addGrid(estimator.factor, [FACTOR]).build(),
        evaluator=evaluator,
        trainRatio=0.75,
        seed=3,
        collectSubModels=True,
    )
    (training_model,) = split.fit(events_df).subModels
    (validated,) = evaluator.seen
    training_plan = training_model.plan
    assert training_plan.rows_before + sum(validated.values()) == ROWS
    validated_positives = sum(rows for (_, label), rows in validated.items() if label == 1)
    positives = events_df.filter(F.col("label") == 1).count()
    assert training_plan.for_label(1).rows_before + validated_positives == positives


def test_a_grid_over_the_factor_samples_each_training_fold_once(
    events_df: DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    samplings: list[dict[str, Any]] = []

    def counted_rebalance(df: DataFrame, **options: Any) -> Any:
        samplings.append(options)
        return rebalance(df, **options)

    monkeypatch.setattr(ml, "rebalance", counted_rebalance)
    lr = LogisticRegression(maxIter=20)
    estimator = rebalanced_lr(sampler="hash", sampleKey=["id"])
    estimator.setParams(estimator=lr)
    grid = (
        ParamGridBuilder()
        .addGrid(lr.regParam, [0.0, 0.01])
        .addGrid(estimator.factor, [5.0, FACTOR, 20.0])
        .build()
    )
    validator = CrossValidator(
        estimator=estimator,
        estimatorParamMaps=grid,
        evaluator=CountingLogLoss(),
        numFolds=FOLDS,
        foldCol="fold",
        collectSubModels=True,
    )
    events_df.count()  # the cached table, materialized: only what the fits cache is counted
    persisted = persisted_rdds(events_df.sparkSession)
    tuned = validator.fit(events_df)
    # Each fold's sample was cached for its six fits and freed after the last: nothing the
    # fits persisted is left (what earlier tests left may be freed meanwhile by Spark's
    # cleaner, so the count alone is no measure).
    assert persisted_rdds(events_df.sparkSession) - persisted == set()
    # One sampling per training fold for all six maps, then the best map refitted on all.
    assert [options.get("factors") for options in samplings] == [[5.0, FACTOR, 20.0]] * FOLDS + [
        None
    ]
    index = 5  # regParam 0.01, factor 20
    assert (grid[index][lr.regParam], grid[index][estimator.factor]) == (0.01, 20.0)
    reused = tuned.subModels[1][index]
    alone = estimator.copy(grid[index]).fit(events_df.filter(F.col("fold") != 1))
    assert reused.plan == alone.plan and reused.getOrDefault("factor") == 20.0
    assert reused.inner_model.coefficients.toArray() == pytest.approx(
        alone.inner_model.coefficients.toArray(), rel=1e-9
    )
    assert reused.inner_model.intercept == pytest.approx(alone.inner_model.intercept, rel=1e-9)


class UnweightableClassifier(Estimator[Model], HasLabelCol, HasProbabilityCol):
    """A classifier with probabilities but no weightCol param (never fitted here)."""

    def _fit(self, dataset: DataFrame) -> Model:
        raise AssertionError("not fitted in these tests")


class WeightableScorer(Estimator[Model], HasLabelCol, HasWeightCol):
    """An estimator with a weightCol param but no probabilities (never fitted here)."""

    def _fit(self, dataset: DataFrame) -> Model:
        raise AssertionError("not fitted in these tests")


def test_an_estimator_without_weight_col_is_refused_unless_calibrated() -> None:
    with pytest.raises(ConfigError) as refused:
        RebalancedEstimator(estimator=UnweightableClassifier(), factor=FACTOR)
    message = str(refused.value)
    assert "UnweightableClassifier has no weightCol" in message
    assert message.endswith("[calibrate=True]")
    assert "\n" not in message
    RebalancedEstimator(estimator=UnweightableClassifier(), factor=FACTOR, calibrate=True)


@pytest.mark.parametrize(
    ("estimator", "params", "wanted"),
    [
        (WeightableScorer(), {"calibrate": True}, "predicts no probabilities"),
        (UnweightableClassifier(), {"calibrate": True, "weightCol": "w"}, "weightCol and calib"),
        (WeightableScorer(), {"unweighted": True, "weightCol": "w"}, "weightCol and unweighted"),
        (UnweightableClassifier(), {"calibrate": True, "unweighted": True}, "one of calibrate"),
        (UnweightableClassifier(), {"unweighted": True}, "has no weightCol"),
    ],
)
def test_settings_that_cannot_train_are_refused_at_construction(
    estimator: Estimator[Model], params: dict[str, Any], wanted: str
) -> None:
    with pytest.raises(ConfigError, match=wanted):
        RebalancedEstimator(estimator=estimator, factor=FACTOR, **params)


def test_set_params_refuses_unknown_names_and_bad_settings_and_keeps_the_good_ones() -> None:
    estimator = RebalancedEstimator(estimator=WeightableScorer(), factor=FACTOR)
    with pytest.raises(ConfigError, match="unknown param"):
        estimator.setParams(factr=5.0)
    with pytest.raises(ConfigError, match="predicts no probabilities"):
        estimator.setParams(calibrate=True)
    assert estimator.getOrDefault(estimator.calibrate) is False
    estimator.setParams(factor=5.0)
    assert estimator.getOrDefault(estimator.factor) == 5.0
