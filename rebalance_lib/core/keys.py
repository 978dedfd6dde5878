"""Group keys as Spark groups them: one Python value per group. Pure Python.

Spark SQL groups every NaN as one value and -0.0 with 0.0; Python does neither
(``float("nan") != float("nan")``, and each NaN collected from Spark is its own dict key).
Every key collected from Spark passes through ``group_key`` before a dict holds or looks it
up, so the plan, the exact cuts, the measurement and the report agree with Spark's groups.
A null stays ``None``, apart from the string ``'None'``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class _NaN(float):
    """The one NaN of group keys: equal to every NaN, with one hash, as Spark groups them."""

    def __new__(cls) -> _NaN:
        return super().__new__(cls, "nan")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and math.isnan(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash("rebalance NaN")


NAN: float = _NaN()


def canonical(value: Any) -> Any:
    """``value`` as its group's one key: any NaN is ``NAN``, -0.0 is 0.0, others unchanged.

    Example:
        >>> canonical(float("nan")) == canonical(float("-nan")), canonical(-0.0)
        (True, 0.0)
    """
    if isinstance(value, float):
        if math.isnan(value):
            return NAN
        if value == 0.0:
            return 0.0
    return value


def group_key(values: Iterable[Any]) -> tuple[Any, ...]:
    """A group's values (collected from Spark) as the key dicts hold it.

    Example:
        >>> {group_key([float("nan"), 1]): 5}[group_key([float("nan"), 1])]
        5
    """
    return tuple(canonical(value) for value in values)


def shown(value: Any) -> str | None:
    """A key's value as the report writes it: null stays null, apart from the text 'None'."""
    return None if value is None else str(value)
