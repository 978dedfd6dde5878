"""Undo downsampling in predicted probabilities, for models trained without the weights.

A model trained on data whose negatives were kept at rate r = 1/F (and not reweighted)
over-predicts the positive class. He et al., "Practical Lessons from Predicting Clicks on
Ads at Facebook" (2014): the calibrated probability is

    q = p / (p + (1 - p) / r) = p / (p + F * (1 - p)),   i.e. logit(q) = logit(p) - log(F).

One arithmetic expression serves plain floats, numpy arrays and Spark Columns alike, so
the same function calibrates a number, a batch in memory, or a column at cluster scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.plan import Plan
from rebalance_lib.core.targets import Label

Probability = TypeVar("Probability")


def calibrate(p: Probability, factor: float) -> Probability:
    """The probability of the kept-whole class, corrected for its partner divided by ``factor``.

    Args:
        p: predicted probability of the minority (not downsampled) class: a float, a numpy
            array, or a Spark Column.
        factor: F >= 1, the factor the other class was divided by (the plan's factor).

    Example:
        >>> calibrate(0.5, 20) == 1 / 21
        True
        >>> import pyspark.sql.functions as F
        >>> scored_df.withColumn("p_calibrated", calibrate(F.col("p"), 20))  # doctest: +SKIP
    """
    if isinstance(factor, bool) or not math.isfinite(factor) or factor < 1:
        raise ValueError(f"factor must be a finite number >= 1 (got {factor!r})")
    return p / (p + (1 - p) * factor)  # type: ignore[operator,return-value]  # float, ndarray or Column: same operators


def logit_offset(factor: float) -> float:
    """What to add to the model's logit: -log(F)."""
    return -math.log(factor)


def calibration_table(class_factors: Mapping[Label, float]) -> list[dict[str, Any]]:
    """Per downsampled class: its factor and the logit offset of ``calibrate``."""
    return [
        {"label": label, "factor": factor, "logit_offset": logit_offset(factor)}
        for label, factor in class_factors.items()
        if factor > 1.0
    ]


@dataclass(frozen=True)
class BinaryCorrection:
    """How to calibrate a binary model: its minority's place in the probability vector, and F."""

    minority_index: int
    factor: float


def binary_correction(plan: Plan) -> BinaryCorrection:
    """Where ``calibrate`` applies for a model trained on ``plan``'s rows, unweighted.

    Spark ML classifiers index their probability vector by the label's value, so the two
    labels must be 0 and 1; F is the factor the other class was divided by.

    Example:
        >>> from rebalance_lib.core.plan import plan_rebalance
        >>> from rebalance_lib.core.targets import TargetRequest
        >>> binary_correction(plan_rebalance({0: 10_000, 1: 100}, TargetRequest(factor=10)))
        BinaryCorrection(minority_index=1, factor=10)
    """
    labels = [c.label for c in plan.classes]
    if len(labels) != 2:
        raise ConfigError(
            f"calibration corrects a binary model; the training rows hold {len(labels)} classes: "
            "train with the weights instead",
            fix={"calibrate": False},
        )
    if {_vector_index(label) for label in labels} != {0, 1}:
        shown = ", ".join(repr(label) for label in labels)
        raise ConfigError(
            f"calibration needs the labels 0 and 1, the model's probability indices (got {shown})"
        )
    other = next(c for c in plan.classes if c.label != plan.minority_label)
    return BinaryCorrection(int(plan.minority_label), other.factor)


def _vector_index(label: Label) -> int | None:
    if isinstance(label, str) or label not in (0, 1):
        return None
    return int(label)
