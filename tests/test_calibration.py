"""Calibration: a model trained on the downsampled table without weights, corrected back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyspark.sql.functions as F
import pytest
from conftest import run_rebalance, write_delta
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession

from rebalance_lib import calibrate
from rebalance_lib.core.calibration import BinaryCorrection, binary_correction
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.plan import plan_rebalance
from rebalance_lib.core.targets import TargetRequest

FACTOR = 10


def test_calibrate_matches_the_worked_example_and_the_logit_form() -> None:
    assert calibrate(0.5, 20) == pytest.approx(1 / 21)
    p = np.linspace(0.01, 0.99, 99)
    q = calibrate(p, FACTOR)
    logit = lambda x: np.log(x / (1 - x))  # noqa: E731
    np.testing.assert_allclose(logit(q), logit(p) - math.log(FACTOR), rtol=1e-12, atol=1e-12)
    assert calibrate(0.3, 1) == pytest.approx(0.3)  # nothing was downsampled


@pytest.mark.parametrize("factor", [0.5, float("nan"), float("inf")])
def test_calibrate_refuses_a_factor_below_one(factor: float) -> None:
    with pytest.raises(ValueError, match="factor"):
        calibrate(0.5, factor)


@pytest.mark.parametrize(
    ("class_counts", "expected"),
    [
        ({0: 100_000, 1: 1_000}, BinaryCorrection(minority_index=1, factor=FACTOR)),
        ({0.0: 1_000, 1.0: 100_000}, BinaryCorrection(minority_index=0, factor=FACTOR)),
    ],
)
def test_a_binary_plan_names_the_minority_index_and_its_partners_factor(
    class_counts: dict[float, int], expected: BinaryCorrection
) -> None:
    assert binary_correction(plan_rebalance(class_counts, TargetRequest(factor=FACTOR))) == expected


@pytest.mark.parametrize(
    ("class_counts", "wanted"),
    [
        ({0: 100_000, 1: 5_000, 2: 1_000}, "binary"),
        ({"no": 100_000, "yes": 1_000}, "labels 0 and 1"),
        ({1: 100_000, 2: 1_000}, "labels 0 and 1"),
    ],
)
def test_calibration_refuses_plans_it_cannot_correct(
    class_counts: dict[int | str, int], wanted: str
) -> None:
    with pytest.raises(ConfigError, match=wanted):
        binary_correction(plan_rebalance(class_counts, TargetRequest(factor=FACTOR)))


def test_calibrate_on_a_spark_column_equals_numpy(spark: SparkSession) -> None:
    p = np.array([0.001, 0.2, 0.5, 0.9, 0.999])
    p_df = spark.createDataFrame([(float(value),) for value in p], ["p"])
    spark_q = [row[0] for row in p_df.select(calibrate(F.col("p"), 20)).collect()]
    np.testing.assert_allclose(spark_q, calibrate(p, 20), rtol=1e-12)


def test_an_unweighted_model_recovers_the_base_rate_once_calibrated(
    spark: SparkSession, tmp_path: Path
) -> None:
    # True model: logit p = -4.5 + 1.5 x, x ~ N(0, 1): about 3.8% positives.
    events_df = (
        spark.range(0, 400_000, 1, 4)
        .withColumn("x", F.randn(11))
        .withColumn("p_true", 1 / (1 + F.exp(-(F.lit(-4.5) + 1.5 * F.col("x")))))
        .withColumn("label", (F.rand(12) < F.col("p_true")).cast("int"))
    )
    source = write_delta(events_df, tmp_path / "events")
    result = run_rebalance(
        spark, source, tmp_path / "out", **{"target.factor": FACTOR, "label.minority": 1}
    )
    assert result.report is not None
    assert [(e.label, e.factor) for e in result.report.calibration] == [(0, FACTOR)]
    assemble = VectorAssembler(inputCols=["x"], outputCol="features")
    training_df = assemble.transform(spark.read.format("delta").load(str(tmp_path / "out")))
    model = LogisticRegression(maxIter=100, regParam=0.0).fit(training_df)  # no weightCol
    scored_df = model.transform(assemble.transform(spark.read.format("delta").load(source)))
    p = vector_to_array("probability")[1]
    base_rate, raw_mean, calibrated_mean = scored_df.select(
        F.avg("label"), F.avg(p), F.avg(calibrate(p, FACTOR))
    ).first()
    assert raw_mean > 3 * base_rate  # the unweighted model over-predicts ...
    assert calibrated_mean == pytest.approx(base_rate, rel=0.05)  # ... calibration undoes it
