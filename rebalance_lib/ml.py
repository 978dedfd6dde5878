"""Spark ML: a meta-estimator that rebalances only the rows it trains on.

``RebalancedEstimator`` wraps a Spark ML estimator the way ``OneVsRest`` wraps its classifier.
``fit`` rebalances the DataFrame it is given with ``rebalance`` and fits the inner estimator on
the kept rows and their weights; the ``RebalancedModel`` it returns scores every row with the
inner model and never samples. Inside ``CrossValidator``, ``TrainValidationSplit`` or a
``Pipeline`` each fit therefore rebalances only the training part it is handed, and evaluation
sees the held-out rows untouched. A param grid reaches both the inner estimator's params
(``lr.regParam``) and the rebalance's (``est.factor``); a fitted validator with such a grid
cannot be saved, though (pyspark's validator writer finds nested stages only inside its own
meta-estimators, Pipeline and OneVsRest): save its ``bestModel``.

Example:
    >>> lr = LogisticRegression(featuresCol="features")
    >>> est = RebalancedEstimator(estimator=lr, factor=10.0, seed=5)
    >>> model = est.fit(train_df)  # lr trained with the weights, in column "weight"
    >>> model.plan.factor, model.transform(test_df).count() == test_df.count()
    (10.0, True)
    >>> model.write().overwrite().save(model_path)
    >>> RebalancedModel.load(model_path).plan.factor
    10.0
    >>> grid = ParamGridBuilder().addGrid(lr.regParam, [0.0, 0.1]).addGrid(est.factor, [5.0, 10.0])

Over Spark Connect the same calls work (``tests/test_ml_connect.py``): ``fit`` (``rebalance``
is DataFrame expressions and one aggregation; a Java inner estimator fits on the server),
``transform`` (``vector_to_array`` and ``array_to_vector`` are Connect functions), a
``CrossValidator`` over ``est.factor`` and the inner estimator's params, and ``save`` and
``load`` of the estimator and the model (the metadata through the DataFrame writer and reader,
the inner stages through Connect's own ML writer). Refused there in one line:
``write().overwrite()`` onto a path that exists, because a Connect client has no JVM and no
file system of the server's to remove it with (pyspark removes it through the driver's JVM):
delete it first, or save to a new path. As on a classic session, a fitted validator holding
this estimator is not saved (pyspark's writers know only its own meta-estimators): save its
``bestModel``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import pyspark.sql.functions as F
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.base import _FitMultipleIterator
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasWeightCol
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession

from rebalance_lib.api import RebalanceOptions, rebalance, select_factor
from rebalance_lib.core.calibration import BinaryCorrection, binary_correction, calibrate
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.options import DEFAULT_SEED, LABEL_COL, WEIGHT_COL
from rebalance_lib.core.plan import DEFAULT_BATCH_SIZE, Plan
from rebalance_lib.core.sweep import DRAW_COLUMN
from rebalance_lib.core.targets import Label
from rebalance_lib.runs.mlflow_run import active_run_id, log_fit
from rebalance_lib.storage import fs

__all__ = ["RebalancedEstimator", "RebalancedModel", "with_calibrated_probability"]

log = logging.getLogger(__name__)

# Each param that ``fit`` hands to ``rebalance``, and its keyword there. Unset params take
# the API's defaults; weightCol is the output weight column and the inner estimator's.
# unweighted and calibrate are the estimator's own: how the inner estimator trains.
API_KEYWORDS = {
    "labelCol": "label",
    "factor": "factor",
    "targetRatio": "target_ratio",
    "targetMinorityShare": "target_minority_share",
    "minMinorityPerBatch": "min_minority_per_batch",
    "maxRows": "max_rows",
    "classTargets": "class_targets",
    "classFactors": "class_factors",
    "seed": "seed",
    "minority": "minority",
    "batchSize": "batch_size",
    "strata": "strata",
    "sampler": "sampler",
    "sampleKey": "sample_key",
    "exact": "exact",
    "weightBasis": "weight_basis",
    "inputWeightCol": "input_weight_col",
}

# The target params besides factor: a grid reuses one sample only when none is set.
_OTHER_TARGETS = (
    "targetRatio",
    "targetMinorityShare",
    "minMinorityPerBatch",
    "maxRows",
    "classTargets",
    "classFactors",
)
# Per-class params are kept as [label, value] pairs, which a saved stage's JSON holds with
# each label's type (a dict's keys would all come back as strings).
_PER_CLASS_PARAMS = ("classTargets", "classFactors")

_Stage = TypeVar("_Stage", bound="_RebalancedParams")
_Saved = TypeVar("_Saved", "RebalancedEstimator", "RebalancedModel")


def _param(name: str, doc: str, converter: Any = TypeConverters.identity) -> Param[Any]:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


def _label_pairs(value: Any) -> list[list[Any]]:
    """``{0: 100000}`` (or saved ``[[0, 100000]]``) as ``[[label, value], ...]``."""
    pairs = value.items() if isinstance(value, Mapping) else value
    try:
        return [[label, number] for label, number in pairs]
    except (TypeError, ValueError):
        raise TypeError(f"expected a dict of label value to number, got {value!r}") from None


class _RebalancedParams(HasLabelCol, HasWeightCol):
    """The params of ``RebalancedEstimator`` and of the ``RebalancedModel`` it fits."""

    estimator: Param[Estimator[Any]] = _param(
        "estimator", "the estimator fitted on the rebalanced rows"
    )
    factor = _param(
        "factor", "divide the majority by F; kept rows weigh x F", TypeConverters.toFloat
    )
    targetRatio = _param(
        "targetRatio", "output majority:minority of about R:1", TypeConverters.toFloat
    )
    targetMinorityShare = _param(
        "targetMinorityShare",
        "the minority is about S of the output (0 < S < 0.5)",
        TypeConverters.toFloat,
    )
    minMinorityPerBatch = _param(
        "minMinorityPerBatch", "at least K minority rows in an average batch", TypeConverters.toInt
    )
    maxRows = _param(
        "maxRows", "at most N output rows, cutting the largest classes first", TypeConverters.toInt
    )
    classTargets = _param(
        "classTargets", "rows to keep per named class, {label: rows}", _label_pairs
    )
    classFactors = _param("classFactors", "a factor per named class, {label: F}", _label_pairs)
    seed = _param("seed", f"the sampler's seed (default {DEFAULT_SEED})", TypeConverters.toInt)
    minority = _param("minority", "the class to protect (default the least frequent)")
    batchSize = _param(
        "batchSize",
        f"the batch size the plan's advice is given for (default {DEFAULT_BATCH_SIZE})",
        TypeConverters.toInt,
    )
    strata = _param(
        "strata", "plan within each combination of these columns", TypeConverters.toListString
    )
    sampler = _param(
        "sampler",
        "sampleBy (Bernoulli per row, default) or hash (by sampleKey)",
        TypeConverters.toString,
    )
    sampleKey = _param(
        "sampleKey", "key column(s) of the hash sampler and of exact", TypeConverters.toListString
    )
    exact = _param(
        "exact",
        "keep exactly the planned rows of each downsampled group (one more pass)",
        TypeConverters.toBoolean,
    )
    weightBasis = _param(
        "weightBasis",
        "nominal (x F, default) or realized (rows before / kept; needs exact)",
        TypeConverters.toString,
    )
    inputWeightCol = _param(
        "inputWeightCol",
        "an existing example weight to scale (default weight 1)",
        TypeConverters.toString,
    )
    calibrate = _param(
        "calibrate",
        "train the estimator unweighted, then correct its binary probabilities by F",
        TypeConverters.toBoolean,
    )
    unweighted = _param(
        "unweighted",
        "train the estimator without the weights: probabilities over-predict the minority",
        TypeConverters.toBoolean,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(calibrate=False, unweighted=False, weightCol=WEIGHT_COL)

    def getEstimator(self) -> Estimator[Any]:
        """The inner estimator."""
        return self.getOrDefault(self.estimator)

    def copy(self: _Stage, extra: dict[Param[Any], Any] | None = None) -> _Stage:
        """A copy with ``extra`` applied to these params and to the inner estimator's."""
        extra = extra or {}
        that = Params.copy(self, extra)
        if self.isDefined(self.estimator):
            that._set(estimator=self.getEstimator().copy(extra))
        return that

    def _calibrates(self) -> bool:
        return bool(self.getOrDefault(self.calibrate))

    def _unweighted_switch(self) -> str | None:
        """The param that asked for unweighted training (calibrate or unweighted), if one."""
        for param in (self.calibrate, self.unweighted):
            if self.getOrDefault(param):
                return param.name
        return None

    def _weight_col(self) -> str:
        """The column the inner estimator trains with; "" for none, as Spark ML reads it."""
        return "" if self._unweighted_switch() else self.getOrDefault(self.weightCol)


class RebalancedEstimator(
    Estimator["RebalancedModel"],
    _RebalancedParams,
    MLReadable["RebalancedEstimator"],
    MLWritable,
):
    """Fit ``estimator`` on its training rows rebalanced: the majority downsampled, kept rows
    upweighted.

    Args:
        estimator: the Spark ML estimator to fit; it needs a ``weightCol`` param, unless
            ``calibrate``. Its ``labelCol`` and ``weightCol`` are set from these at each fit.
        labelCol: the label column (default ``label``).
        weightCol: the column the weights are written to and the estimator trains with
            (default ``weight``, the API's).
        factor: how much to downsample, as ``rebalance``'s ``factor``; exactly one of this
            and the six target params below.
        targetRatio: ``rebalance``'s ``target_ratio``.
        targetMinorityShare: ``rebalance``'s ``target_minority_share``.
        minMinorityPerBatch: ``rebalance``'s ``min_minority_per_batch``.
        maxRows: ``rebalance``'s ``max_rows``.
        classTargets: ``rebalance``'s ``class_targets``, saved with its labels' types.
        classFactors: ``rebalance``'s ``class_factors``, saved with its labels' types.
        seed: ``rebalance``'s ``seed``. This param and the eight below are ``rebalance``'s
            keywords of the same meaning (``API_KEYWORDS``); unset, its defaults. A split
            column or null-label dropping is not offered: the tuner splits, and a Spark ML
            estimator refuses null labels anyway.
        minority: ``rebalance``'s ``minority``.
        batchSize: ``rebalance``'s ``batch_size``.
        strata: ``rebalance``'s ``strata``.
        sampler: ``rebalance``'s ``sampler``.
        sampleKey: ``rebalance``'s ``sample_key``.
        exact: ``rebalance``'s ``exact``.
        weightBasis: ``rebalance``'s ``weight_basis``.
        inputWeightCol: ``rebalance``'s ``input_weight_col``.
        calibrate: train the estimator unweighted and correct its probabilities with the
            prior correction (logit - ln F), for estimators without ``weightCol``. Binary
            labels 0 and 1 only; the prediction and raw prediction stay the inner model's.
        unweighted: train the estimator without the weights and leave its probabilities
            uncorrected: they over-predict the minority, fine for ranking only (a warning,
            once, says so). An estimator without ``weightCol`` needs ``calibrate`` instead.

    Raises:
        ConfigError: at construction, for an estimator that cannot be trained as asked.

    Example:
        >>> est = RebalancedEstimator(estimator=LogisticRegression(), factor=10.0)
        >>> cv = CrossValidator(estimator=est, estimatorParamMaps=grid, evaluator=evaluator)
        >>> RebalancedEstimator(estimator=MultilayerPerceptronClassifier(layers=[2, 2]),
        ...                     factor=10.0, calibrate=True)
        RebalancedEstimator_...
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        estimator: Estimator[Any] | None = None,
        labelCol: str = LABEL_COL,
        weightCol: str = WEIGHT_COL,
        factor: float | None = None,
        targetRatio: float | None = None,
        targetMinorityShare: float | None = None,
        minMinorityPerBatch: int | None = None,
        maxRows: int | None = None,
        classTargets: Mapping[Label, int] | None = None,
        classFactors: Mapping[Label, float] | None = None,
        seed: int | None = None,
        minority: Label | None = None,
        batchSize: int | None = None,
        strata: list[str] | None = None,
        sampler: str | None = None,
        sampleKey: list[str] | None = None,
        exact: bool | None = None,
        weightBasis: str | None = None,
        inputWeightCol: str | None = None,
        calibrate: bool = False,
        unweighted: bool = False,
    ) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    def setParams(self, **params: Any) -> RebalancedEstimator:
        """Set params by the constructor's names: ``est.setParams(factor=5.0)``."""
        unknown = sorted(name for name in params if not self.hasParam(name))
        if unknown:
            raise ConfigError(f"unknown param(s) {', '.join(unknown)}: see RebalancedEstimator")
        candidate = self.copy()  # checked before this estimator takes them
        candidate._set(**params)
        candidate._check_estimator()
        if params.get("unweighted"):
            log.warning(
                "unweighted: the estimator trains on the rebalanced rows without their weights, "
                "so its probabilities over-predict the minority (its odds by about the factor)"
            )
        return self._set(**params)

    def _check_estimator(self) -> None:
        """Refuse settings, and an inner estimator (once set), that cannot train as asked."""
        switch = self._unweighted_switch()
        if self._calibrates() and self.getOrDefault(self.unweighted):
            raise ConfigError(
                "calibrate corrects the probabilities of unweighted training and unweighted "
                "leaves them uncorrected: use one of calibrate and unweighted",
                fix={"unweighted": False},
            )
        if switch and self.isSet(self.weightCol):
            raise ConfigError(
                f"{switch} trains the estimator without weights, so it has none to train "
                f"with in weightCol: use one of weightCol and {switch}",
                fix={switch: False},
            )
        if not self.isDefined(self.estimator):
            return
        estimator = self.getEstimator()
        name = type(estimator).__name__
        if not self._calibrates() and not estimator.hasParam("weightCol"):
            raise ConfigError(
                f"{name} has no weightCol param, so it cannot learn from the rebalanced "
                "weights: train it unweighted and calibrate its probabilities",
                fix={"calibrate": True},
            )
        if self._calibrates() and not estimator.hasParam("probabilityCol"):
            raise ConfigError(
                f"{name} predicts no probabilities to calibrate: train it with weights",
                fix={"calibrate": False},
            )

    def _fit(self, dataset: DataFrame) -> RebalancedModel:
        return self._fit_under(dataset, active_run_id())

    def _fit_under(self, dataset: DataFrame, mlflow_parent: str | None) -> RebalancedModel:
        """Fit; with ``mlflow_parent``, the fit's plan is logged as a run nested in it."""
        self._check_estimator()
        options = self._rebalance_options(self._output_weight_col())
        rebalanced = rebalance(dataset, **options)
        if mlflow_parent is not None:
            log_fit(mlflow_parent, rebalanced.plan, options)
        return self._fit_rebalanced(rebalanced.df, rebalanced.plan)

    def fitMultiple(
        self, dataset: DataFrame, paramMaps: Sequence[dict[Param[Any], Any]]
    ) -> Iterator[tuple[int, RebalancedModel]]:
        """One model per param map, as ``fit`` would give each, sampling ``dataset`` once.

        When the maps vary no param of this estimator but ``factor`` (the inner estimator's
        params may vary) and the sampler is ``hash``, ``dataset`` is rebalanced once as a
        sweep of the maps' factors and each map's rows are selected from it
        (``select_factor``): the same rows and weights a fit at that factor draws, from one
        count and one nested sample per training fold of a validator. Otherwise each map
        is fitted on its own, as pyspark does.

        Example:
            >>> est = RebalancedEstimator(estimator=lr, factor=10.0, sampler="hash",
            ...                           sampleKey=["id"])
            >>> grid = ParamGridBuilder().addGrid(est.factor, [5.0, 10.0]).build()
            >>> cv = CrossValidator(estimator=est, estimatorParamMaps=grid, evaluator=evaluator,
            ...                     numFolds=2, parallelism=2)
            >>> cv.fit(train_df).bestModel.plan.factor in (5.0, 10.0)
            True
        """
        # A validator fits the maps in its own threads, where MLflow sees no active run: the
        # caller's is looked up here, in the calling thread, and passed to each fit.
        mlflow_parent = active_run_id()
        factors = self._swept_factors(paramMaps)
        if factors is None:
            return _FitMultipleIterator(
                lambda index: self.copy(paramMaps[index])._fit_under(dataset, mlflow_parent),
                len(paramMaps),
            )
        estimator = self.copy()
        estimator._check_estimator()
        options: dict[str, Any] = {
            **estimator._rebalance_options(estimator._output_weight_col()),
            "factors": factors,
        }
        options.pop("factor", None)  # the sweep's factors are the target
        swept = rebalance(dataset, **cast(RebalanceOptions, options))
        # Drawn once for all maps, as a validator caches each fold: freed after the last fit.
        sample_df = swept.df.persist()
        unfitted = _Countdown(len(paramMaps), sample_df.unpersist)

        def fit_one(index: int) -> RebalancedModel:
            fitting = estimator.copy(paramMaps[index])
            factor = fitting.getOrDefault(fitting.factor)
            try:
                rows_df = select_factor(sample_df, factor).drop(DRAW_COLUMN)
                plan = swept.plan_at(factor)
                if mlflow_parent is not None:
                    log_fit(mlflow_parent, plan, {**options, "factor": factor})
                return fitting._fit_rebalanced(rows_df, plan)
            finally:
                unfitted.tick()

        return _FitMultipleIterator(fit_one, len(paramMaps))

    def _swept_factors(self, paramMaps: Sequence[dict[Param[Any], Any]]) -> list[float] | None:
        """The maps' factors when one nested sample serves them all, else None."""
        own_varied = {
            param.name for params in paramMaps for param in params if param.parent == self.uid
        }
        one_sample = (
            bool(paramMaps)
            and own_varied <= {"factor"}
            and self._own("sampler") == "hash"
            and not self._own("exact")
            and not self._own("strata")
            and self._own("inputWeightCol") != self._output_weight_col()
            and all(self._own(form) is None for form in _OTHER_TARGETS)
        )
        if not one_sample:
            return None
        factors = [params.get(self.factor, self._own("factor")) for params in paramMaps]
        return None if None in factors else sorted(set(factors))

    def _own(self, name: str) -> Any:
        """This estimator's param value, None when unset."""
        param = self.getParam(name)
        return self.getOrDefault(param) if self.isDefined(param) else None

    def _output_weight_col(self) -> str:
        """Where the rebalance writes the weights: the inner estimator's weight column, or
        (unweighted) a column of its own, dropped before training."""
        return self._weight_col() or f"{self.uid}_weight"

    def _fit_rebalanced(self, rows_df: DataFrame, plan: Plan) -> RebalancedModel:
        """Fit the inner estimator on rebalanced rows (weighted, or calibrated after)."""
        weight_col = self._weight_col()
        if self._calibrates():
            binary_correction(plan)  # refuse before training what it cannot correct
        training_df = rows_df if weight_col else rows_df.drop(self._output_weight_col())
        estimator = self.getEstimator()
        inner_model = estimator.fit(training_df, self._inner_params(estimator, weight_col))
        return self._copyValues(RebalancedModel(inner_model, plan))

    def _rebalance_options(self, weight_col: str) -> RebalanceOptions:
        options: dict[str, Any] = {
            keyword: self.getOrDefault(name)
            for name, keyword in API_KEYWORDS.items()
            if self.isDefined(self.getParam(name)) and self.getOrDefault(name) is not None
        }
        for name in _PER_CLASS_PARAMS:
            if API_KEYWORDS[name] in options:
                options[API_KEYWORDS[name]] = dict(options[API_KEYWORDS[name]])
        return cast(RebalanceOptions, {**options, "weight_col": weight_col})

    def _inner_params(self, estimator: Estimator[Any], weight_col: str) -> dict[Param[Any], Any]:
        """The label and weight columns are this estimator's: set on the inner one per fit."""
        own = {"labelCol": self.getLabelCol(), "weightCol": weight_col}
        return {
            estimator.getParam(name): value
            for name, value in own.items()
            if estimator.hasParam(name)
        }

    @classmethod
    def read(cls) -> MLReader[RebalancedEstimator]:
        return _RebalancedEstimatorReader()

    def write(self) -> MLWriter:
        return _RebalancedEstimatorWriter(self)


class _Countdown:
    """Calls ``then`` once ``count`` ticks have come in, from any thread."""

    def __init__(self, count: int, then: Callable[[], object]) -> None:
        self._left = count
        self._then = then
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._left -= 1
            done = self._left == 0
        if done:
            self._then()


class RebalancedModel(Model, _RebalancedParams, MLReadable["RebalancedModel"], MLWritable):
    """The inner estimator's model, fitted on rebalanced rows: it scores every row, never samples.

    Attributes:
        inner_model: the fitted inner model.
        plan: what the fit did: rows per class, factors, keep fractions, weights.

    Example:
        >>> model.plan.for_label(0.0).keep_fraction, model.plan.for_label(0.0).weight_multiplier
        (0.1, 10.0)
        >>> model.transform(test_df).select("prediction", "probability")
        DataFrame[prediction: double, probability: vector]
    """

    def __init__(self, inner_model: Model, plan: Plan) -> None:
        super().__init__()
        self.inner_model = inner_model
        self.plan = plan

    def _transform(self, dataset: DataFrame) -> DataFrame:
        scored_df = self.inner_model.transform(dataset)
        if not self._calibrates():
            return scored_df
        probability_col = self.inner_model.getOrDefault("probabilityCol")
        return with_calibrated_probability(scored_df, probability_col, binary_correction(self.plan))

    def copy(self, extra: dict[Param[Any], Any] | None = None) -> RebalancedModel:
        that = super().copy(extra)
        that.inner_model = self.inner_model.copy(extra)
        return that

    @classmethod
    def read(cls) -> MLReader[RebalancedModel]:
        return _RebalancedModelReader()

    def write(self) -> MLWriter:
        return _RebalancedModelWriter(self)


def with_calibrated_probability(
    scored_df: DataFrame, probability_col: str, correction: BinaryCorrection
) -> DataFrame:
    """Replace a binary model's probability vector by its prior-corrected one.

    Spark SQL expressions only (``calibrate`` on a Column), no Python UDF.

    Example:
        >>> with_calibrated_probability(scored_df, "probability", BinaryCorrection(1, 10.0))
        DataFrame[..., probability: vector, prediction: double]
    """
    probabilities = vector_to_array(F.col(probability_col))
    minority = calibrate(probabilities[correction.minority_index], correction.factor)
    pair = [minority, 1 - minority] if correction.minority_index == 0 else [1 - minority, minority]
    return scored_df.withColumn(probability_col, array_to_vector(F.array(*pair)))


def _writable(stage: Params) -> MLWritable:
    if not isinstance(stage, MLWritable):
        raise ConfigError(f"{type(stage).__name__} cannot be saved: it is not MLWritable")
    return stage


def _save_params(
    instance: _RebalancedParams,
    path: str,
    session: SparkSession,
    extra_metadata: dict[str, Any] | None = None,
) -> None:
    """The params as JSON metadata, the inner estimator in ``estimator/`` (as OneVsRest)."""
    params = DefaultParamsWriter.extractJsonParams(instance, ["estimator"])
    DefaultParamsWriter.saveMetadata(instance, path, session, extra_metadata, params)
    _writable(instance.getEstimator()).save(os.path.join(path, "estimator"))


def _load_stage(path: str, name: str, session: SparkSession) -> Any:
    return DefaultParamsReader.loadParamsInstance(os.path.join(path, name), session)


def _restore(
    instance: _Saved, path: str, metadata: dict[str, Any], session: SparkSession
) -> _Saved:
    """Params as saved, then the estimator: checks at construction ran on no estimator."""
    instance._resetUid(metadata["uid"])
    DefaultParamsReader.getAndSetParams(instance, metadata, skipParams=["estimator"])
    instance._set(estimator=_load_stage(path, "estimator", session))
    return instance


class _StageWriter(MLWriter):
    """pyspark's writer, with ``overwrite()`` removing the path through rebalance's storage."""

    def _handleOverwrite(self, path: str) -> None:
        # pyspark's own removal calls the driver's JVM, which a Spark Connect client lacks;
        # there, a path that exists is refused in one line instead.
        fs.delete(self.sparkSession, path)


class _RebalancedEstimatorWriter(_StageWriter):
    def __init__(self, instance: RebalancedEstimator) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        _save_params(self.instance, path, self.sparkSession)


class _RebalancedEstimatorReader(MLReader[RebalancedEstimator]):
    def load(self, path: str) -> RebalancedEstimator:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        return _restore(RebalancedEstimator(), path, metadata, self.sparkSession)


class _RebalancedModelWriter(_StageWriter):
    """The estimator's layout, plus the plan in the metadata and the inner model in ``model/``."""

    def __init__(self, instance: RebalancedModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        plan = {"plan": self.instance.plan.to_state()}
        _save_params(self.instance, path, self.sparkSession, plan)
        _writable(self.instance.inner_model).save(os.path.join(path, "model"))


class _RebalancedModelReader(MLReader[RebalancedModel]):
    def load(self, path: str) -> RebalancedModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        inner_model = _load_stage(path, "model", self.sparkSession)
        model = RebalancedModel(inner_model, Plan.from_state(metadata["plan"]))
        return _restore(model, path, metadata, self.sparkSession)
