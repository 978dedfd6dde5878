"""The type each argument of the API takes, checked before any Spark job. Pure Python.

A wrong type would otherwise surface deep in pyspark (a Column as the label, the text "5"
as a factor); here it is one error naming the argument and what it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rebalance_lib.core.errors import ConfigError


@dataclass(frozen=True)
class Accepted:
    """What an argument takes: values of ``types`` (bool counts only where listed), or a list
    or tuple of them when ``many``; ``single`` also takes one value alone; ``whole`` takes
    numbers without a fraction (20 or 20.0, as YAML and the command line give counts)."""

    said: str
    types: tuple[type, ...]
    many: bool = False
    single: bool = False
    whole: bool = False
    by_label: bool = False

    def takes(self, value: Any) -> bool:
        if self.by_label:
            return isinstance(value, Mapping) and all(
                _LABEL.takes(label) and self._takes_one(item) for label, item in value.items()
            )
        if self.many and isinstance(value, list | tuple):
            return all(self._takes_one(item) for item in value)
        return (not self.many or self.single) and self._takes_one(value)

    def _takes_one(self, value: Any) -> bool:
        if isinstance(value, bool) and bool not in self.types:
            return False
        if self.whole and isinstance(value, float):
            return value.is_integer()
        return isinstance(value, self.types)


_NAME = Accepted("a column name", (str,))
_NUMBER = Accepted("a number", (int, float))
_WHOLE = Accepted("a whole number", (int,))
_COUNT = Accepted("a whole number", (int, float), whole=True)
_WORD = Accepted("a word", (str,))
_FLAG = Accepted("True or False", (bool,))
_LABEL = Accepted("a label value (a number, a string or a boolean)", (int, float, str, bool))
_ROWS_BY_LABEL = Accepted(
    "a dict of label value to rows, e.g. {0: 100000}", (int, float), whole=True, by_label=True
)
_FACTORS_BY_LABEL = Accepted(
    "a dict of label value to factor, e.g. {0: 20}", (int, float), by_label=True
)

# The keyword arguments of ``rebalance`` (``train_value`` takes any value of its column).
OPTION_TYPES: Mapping[str, Accepted] = {
    "label": _NAME,
    "factor": _NUMBER,
    "target_ratio": _NUMBER,
    "target_minority_share": _NUMBER,
    "min_minority_per_batch": _COUNT,
    "max_rows": _COUNT,
    "class_targets": _ROWS_BY_LABEL,
    "class_factors": _FACTORS_BY_LABEL,
    "factors": Accepted("a list of numbers", (int, float), many=True),
    "seed": _WHOLE,
    "minority": _LABEL,
    "null_labels": _WORD,
    "weight_col": _NAME,
    "input_weight_col": _NAME,
    "batch_size": _COUNT,
    "strata": Accepted("a list of column names", (str,), many=True),
    "split_col": _NAME,
    "sampler": _WORD,
    "sample_key": Accepted("a column name or a list of them", (str,), many=True, single=True),
    "exact": _FLAG,
    "weight_basis": _WORD,
    "row_order": _WORD,
}
# The further arguments of ``rebalance_table``.
TABLE_ARGUMENT_TYPES: Mapping[str, Accepted] = {
    "source": Accepted("a path or a table name", (str,)),
    "input_format": _WORD,
    "version": _WHOLE,
    "one_pass": _FLAG,
    "classes": Accepted("a list of label values", _LABEL.types, many=True),
    "incremental_into": Accepted("an output path", (str,)),
}


def check_types(arguments: Mapping[str, Any], accepted: Mapping[str, Accepted]) -> None:
    """Refuse the first argument (None aside: left at its default) of a type it does not take.

    Example:
        >>> check_types({"factor": "5"}, OPTION_TYPES)
        Traceback (most recent call last):
        ...
        rebalance_lib.core.errors.ConfigError: factor must be a number (got '5', a str) [factor]
    """
    for name, value in arguments.items():
        expected = accepted.get(name)
        if value is None or expected is None or expected.takes(value):
            continue
        raise ConfigError(
            f"{name} must be {expected.said} (got {value!r}, a {type(value).__name__})",
            fix={name: None},
        )
