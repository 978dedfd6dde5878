"""The ways users say "how much", and the per-class factor each one asks for. Pure Python.

The whole-table forms but ``factor`` are a *cap level*: classes above the level are cut
down to it, classes at or under it keep all their rows. ``factor`` divides each class above
the minority by F, never below the minority's size. The per-class forms name classes one by
one (a row count or a factor each); the classes not named keep all their rows, and no class
is protected from falling below the minority: what is named is what is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from rebalance_lib.core.errors import InputError, PlanError

# A class value: integers, strings, booleans, or whole-number floats (0.0/1.0, Spark ML's way).
Label = int | str | bool | float

# One value for the whole table (a number each), in the order users are told about them.
TABLE_TARGET_FORMS = (
    "factor",
    "target_ratio",
    "target_minority_share",
    "min_minority_per_batch",
    "max_rows",
)
# A value per named class: rows kept (a whole number each) or a factor.
CLASS_TARGET_FORMS = ("class_targets", "class_factors")
TARGET_FORMS = (*TABLE_TARGET_FORMS, *CLASS_TARGET_FORMS)

# Named classes and their values, in the order stated: pairs, so labels keep their type
# (1, 1.0, "1" and True stay apart) through JSON and Spark ML's saved params.
ClassValues = tuple[tuple[Label, float], ...]


@dataclass(frozen=True)
class TargetRequest:
    """How much to downsample, stated in exactly one of the accepted forms.

    Args:
        factor: divide each downsampled class by F (F >= 1); kept rows weigh x F.
        target_ratio: output majority:minority of about R:1 (R >= 1).
        target_minority_share: the minority is about S of the output (0 < S < 0.5).
        min_minority_per_batch: at least K minority rows in an average batch.
        max_rows: at most N output rows, cutting the largest classes first.
        class_targets: rows to keep of each named class, ``{0: 100_000, 2: 5_000}``.
        class_factors: a factor for each named class, ``{0: 20, 2: 5}``.

    Example:
        >>> TargetRequest(factor=20).describe()
        'factor 20 (divide the majority by 20)'
    """

    factor: float | None = None
    target_ratio: float | None = None
    target_minority_share: float | None = None
    min_minority_per_batch: int | None = None
    max_rows: int | None = None
    class_targets: ClassValues | None = None
    class_factors: ClassValues | None = None

    def __post_init__(self) -> None:
        for form in CLASS_TARGET_FORMS:
            stated = getattr(self, form)
            if stated is not None:
                object.__setattr__(self, form, _class_values(form, stated))
        given = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        if len(given) != 1:
            stated = ", ".join(given) or "none"
            raise PlanError(
                f"state exactly one target of {', '.join(TARGET_FORMS)} (got {stated})",
                fix=dict.fromkeys(TARGET_FORMS),
            )
        _check_target_values(self)

    @property
    def form(self) -> str:
        """The name of the form that was used, e.g. ``"target_ratio"``."""
        return next(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @property
    def per_class(self) -> ClassValues | None:
        """The named classes and their values, for a per-class form (else None)."""
        return self.class_targets if self.class_targets is not None else self.class_factors

    def describe(self) -> str:
        """The request as a user would say it: ``brief()`` and what it means."""
        if self.factor is not None:
            return f"{self.brief()} (divide the majority by {self.factor:g})"
        return self.brief() + _MEANING.get(self.form, "")

    def brief(self) -> str:
        """The request in a few words: ``factor 10``, ``target ratio 3:1``."""
        if self.class_targets is not None:
            named = ", ".join(f"{label}={value:,.0f}" for label, value in self.class_targets)
            return f"class targets {named}"
        if self.class_factors is not None:
            named = ", ".join(f"{label}={value:g}" for label, value in self.class_factors)
            return f"class factors {named}"
        if self.factor is not None:
            return f"factor {self.factor:g}"
        if self.target_ratio is not None:
            return f"target ratio {self.target_ratio:g}:1"
        if self.target_minority_share is not None:
            return f"target minority share {self.target_minority_share:.2%}"
        if self.min_minority_per_batch is not None:
            return f"at least {self.min_minority_per_batch} minority rows per batch"
        return f"at most {self.max_rows:,} rows"


# What a form's brief leaves unsaid (the factor's meaning names its value: ``describe``).
_MEANING = {
    "class_targets": " rows (other classes kept whole)",
    "class_factors": " (other classes kept whole)",
    "target_ratio": " (majority:minority)",
}


def _class_values(form: str, stated: Any) -> ClassValues:
    """``{label: value}`` or ``[(label, value), ...]`` (a saved request) as checked pairs."""
    pairs: Iterable[Any] = stated.items() if isinstance(stated, Mapping) else stated
    try:
        values = tuple((label, value) for label, value in pairs)
    except (TypeError, ValueError):
        values = ()
    said = _said(form)
    if not values:
        raise PlanError(f"{said} name at least one class, e.g. {{0: 100000}}", fix={form: None})
    for label, value in values:
        if not isinstance(label, int | float | str):
            raise PlanError(f"{said} are keyed by label values (got {label!r})", fix={form: None})
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise PlanError(
                f"{said}: the value for class {label!r} must be a finite number (got {value!r})",
                fix={form: None},
            )
        if form == "class_targets" and (value < 1 or not float(value).is_integer()):
            raise PlanError(
                f"class targets are rows to keep: the target for class {label!r} must be a "
                f"whole number of at least 1 (got {value:g})",
                fix={form: None},
            )
        if form == "class_factors" and value < 1:
            raise PlanError(
                f"class factors divide a class: the factor for class {label!r} must be at "
                f"least 1 (got {value:g}); factor 1 keeps every row",
                fix={form: None},
            )
    return tuple(
        (label, int(value) if form == "class_targets" else float(value)) for label, value in values
    )


def _check_target_values(request: TargetRequest) -> None:
    if request.per_class is not None:
        return  # checked pair by pair as they were taken in
    value = getattr(request, request.form)
    if isinstance(value, bool) or not math.isfinite(value):
        raise PlanError(
            f"{_said(request.form)} must be a finite number (got {value!r})",
            fix={request.form: None},
        )
    if request.factor is not None and request.factor < 1:
        raise PlanError(
            f"factor must be at least 1 (got {request.factor:g}): it divides the majority; "
            "factor 1 keeps every row",
            fix={"factor": None},
        )
    if request.target_ratio is not None and request.target_ratio < 1:
        raise PlanError(
            f"target ratio is majority:minority and must be at least 1 "
            f"(got {request.target_ratio:g}); 1 means balanced",
            fix={"target_ratio": None},
        )
    share = request.target_minority_share
    if share is not None and not 0 < share < 0.5:
        raise PlanError(
            f"target minority share must be between 0 and 0.5 (got {share:g}); "
            "for a balanced output ask for target ratio 1",
            fix={"target_minority_share": None, "target_ratio": 1},
        )
    if request.min_minority_per_batch is not None and request.min_minority_per_batch < 1:
        raise PlanError(
            "minimum minority rows per batch must be a whole number of at least 1",
            fix={"min_minority_per_batch": None},
        )
    if request.max_rows is not None and request.max_rows < 1:
        raise PlanError(
            "maximum output rows must be a whole number of at least 1", fix={"max_rows": None}
        )


def _said(form: str) -> str:
    return form.replace("_", " ")


def resolve_minority(class_counts: Mapping[Label, int], minority: Label | None) -> Label:
    """The minority label: the named one (matched by its text), else the least frequent."""
    if minority is None:
        return min(class_counts, key=lambda label: (class_counts[label], str(label)))
    return match_label(class_counts, minority, "minority", "minority")


def match_label(labels: Iterable[Label], named: Label, said: str, setting: str) -> Label:
    """The label value ``named`` stands for: the same value and type, else the one whose
    text matches (the command line names 0 as "0", 1.0 as 1); refused when none or several.

    Example:
        >>> match_label([0, 1], "1", "class", "class_targets")
        1
    """
    present = list(labels)
    for label in present:
        if label == named and type(label) is type(named):
            return label
    wanted = str(named).lower()
    matches = [
        label for label in present if str(label).lower() == wanted or _same_number(label, named)
    ]
    if len(matches) != 1:
        shown = ", ".join(sorted(str(label) for label in present))
        raise InputError(
            f"{said} {named!r} is not a label value of the input (present: {shown})",
            fix={setting: None},
        )
    return matches[0]


def resolve_per_class(
    labels: Iterable[Label], request: TargetRequest
) -> tuple[tuple[Label, float], ...]:
    """A per-class request's named classes as the input's own label values, each once."""
    assert request.per_class is not None
    present = list(labels)
    resolved: list[tuple[Label, float]] = []
    for named, value in request.per_class:
        label = match_label(present, named, f"{_said(request.form)}: class", request.form)
        if any(label == seen and type(label) is type(seen) for seen, _ in resolved):
            raise PlanError(
                f"{_said(request.form)} name class {label!r} twice: name each class once",
                fix={request.form: None},
            )
        resolved.append((label, value))
    return tuple(resolved)


def _same_number(label: Label, value: Label) -> bool:
    """A whole-number float label named by its number: 1.0 by 1 or "1"."""
    if not isinstance(label, float) or isinstance(value, bool):
        return False
    try:
        return float(value) == label
    except ValueError:
        return False


def factors_per_class(
    class_counts: Mapping[Label, int], minority: Label, request: TargetRequest, batch_size: int
) -> dict[Label, float]:
    """Per-class downsampling factor (1.0 = keep every row) for a validated request."""
    if request.per_class is not None:
        return _named_factors(class_counts, request)
    minority_rows = class_counts[minority]
    if request.factor is not None:
        return {
            label: _capped_factor(rows, minority_rows, request.factor) if label != minority else 1.0
            for label, rows in class_counts.items()
        }
    level = _cap_level(class_counts, minority, request, batch_size)
    return {
        label: rows / level if label != minority and rows > level else 1.0
        for label, rows in class_counts.items()
    }


def _named_factors(class_counts: Mapping[Label, int], request: TargetRequest) -> dict[Label, float]:
    """The named classes' factors (a target of T rows of N is N / T); the others keep all."""
    factors = dict.fromkeys(class_counts, 1.0)
    for label, value in resolve_per_class(class_counts, request):
        rows = class_counts[label]
        if request.class_targets is not None and value > rows:
            raise PlanError(
                f"class target {value:,.0f} for class {label!r} is above its {rows:,} rows: "
                f"ask for at most {rows:,} (a target keeps rows, it never adds them)",
                fix={"class_targets": None},
            )
        factors[label] = rows / value if request.class_targets is not None else value
    return factors


def _capped_factor(rows: int, minority_rows: int, factor: float) -> float:
    # Never divide a class below the minority's size: that would swap the roles.
    if rows <= minority_rows:
        return 1.0
    return min(factor, rows / minority_rows)


def _cap_level(
    class_counts: Mapping[Label, int], minority: Label, request: TargetRequest, batch_size: int
) -> float:
    minority_rows = class_counts[minority]
    other_rows = [rows for label, rows in class_counts.items() if label != minority]
    if request.target_ratio is not None:
        return request.target_ratio * minority_rows
    if request.max_rows is not None:
        level = water_level(other_rows, request.max_rows - minority_rows)
        if level < minority_rows:
            floor = minority_rows + sum(min(rows, minority_rows) for rows in other_rows)
            raise PlanError(
                f"at most {request.max_rows:,} rows would cut classes below the minority's "
                f"{minority_rows:,} rows; allow at least {floor:,}",
                fix={"max_rows": floor},
            )
        return level
    share = _requested_share(request, batch_size)
    current_share = minority_rows / sum(class_counts.values())
    if current_share >= share:
        return math.inf
    level = water_level(other_rows, minority_rows * (1 - share) / share)
    if level < minority_rows:
        best_share = minority_rows / (
            minority_rows + sum(min(r, minority_rows) for r in other_rows)
        )
        raise _unreachable_share_error(request, batch_size, best_share)
    return level


def _requested_share(request: TargetRequest, batch_size: int) -> float:
    if request.target_minority_share is not None:
        return request.target_minority_share
    wanted = request.min_minority_per_batch
    assert wanted is not None
    if wanted > batch_size:
        raise PlanError(
            f"{wanted} minority rows per batch exceed the batch size {batch_size}; "
            "raise the batch size or ask for fewer minority rows",
            fix={"batch_size": None, "min_minority_per_batch": None},
        )
    return wanted / batch_size


def _unreachable_share_error(
    request: TargetRequest, batch_size: int, best_share: float
) -> PlanError:
    if request.target_minority_share is not None:
        return PlanError(
            f"a minority share of {request.target_minority_share:.2%} is out of reach without "
            f"cutting classes below the minority; the most is {best_share:.2%}, ask for less",
            fix={"target_minority_share": None},
        )
    wanted = request.min_minority_per_batch
    assert wanted is not None
    needed = math.ceil(wanted / best_share)
    return PlanError(
        f"{wanted} minority rows per batch of {batch_size} is out of reach without cutting "
        f"classes below the minority (the most is {best_share * batch_size:.1f}); raise the "
        f"batch size to at least {needed} or lower the target",
        fix={"batch_size": needed},
    )


def water_level(class_rows: list[int], budget: float) -> float:
    """The cap L with sum(min(rows, L)) == budget, or infinity when nothing must be cut.

    Example:
        >>> water_level([10, 100, 1000], 210)
        100.0
    """
    if budget >= sum(class_rows):
        return math.inf
    remaining = float(budget)
    ordered = sorted(class_rows)
    for index, rows in enumerate(ordered):
        level = remaining / (len(ordered) - index)
        if level <= rows:
            return level
        remaining -= rows
    return math.inf
