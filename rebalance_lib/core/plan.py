"""Pure planning: class counts + a request -> a frozen Plan, with advice. No Spark here."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any, Literal

from rebalance_lib.core.counts import SampleGroups
from rebalance_lib.core.errors import InputError, PlanError
from rebalance_lib.core.targets import Label, TargetRequest, factors_per_class, resolve_minority

Degree = Literal["balanced", "mild", "moderate", "extreme"]

DEFAULT_BATCH_SIZE = 128
# "Several" minority rows per batch: at 100:1 this asks for a batch of ~500, as the technique says.
ADVISED_MINORITY_PER_BATCH = 5
FEW_ROWS = 2_000
LARGE_WEIGHT = 100.0
# Below this many kept rows expected, a Bernoulli sample leaves a class empty with a chance
# above one in a million (P(empty) <= exp(-expected rows)).
MIN_EXPECTED_KEPT_ROWS = 14


def degree_of_imbalance(minority_share: float) -> Degree:
    """Name the imbalance from the minority's share of rows.

    Example:
        >>> degree_of_imbalance(0.005), degree_of_imbalance(0.048)
        ('extreme', 'moderate')
    """
    if minority_share >= 0.40:
        return "balanced"
    if minority_share >= 0.20:
        return "mild"
    if minority_share >= 0.01:
        return "moderate"
    return "extreme"


def rows_per_batch(class_rows: float, total_rows: float, batch_size: int) -> float:
    """Expected rows of one class in a uniformly drawn batch."""
    return batch_size * class_rows / total_rows


@dataclass(frozen=True)
class ClassPlan:
    """What happens to one class: divided by ``factor``, kept rows weigh x ``factor``."""

    label: Label
    rows_before: int
    factor: float

    @property
    def keep_fraction(self) -> float:
        return 1.0 / self.factor

    @property
    def weight_multiplier(self) -> float:
        return self.factor

    @property
    def expected_rows_after(self) -> float:
        return self.rows_before / self.factor

    @property
    def is_downsampled(self) -> bool:
        return self.factor > 1.0

    @property
    def rows_after_sd(self) -> float:
        """Standard deviation of the kept row count under Bernoulli sampling."""
        p = self.keep_fraction
        return math.sqrt(self.rows_before * p * (1.0 - p))


# Pages, charts and the batch figures list at most this many classes: the largest, and the
# minority.
SHOWN_CLASSES = 20


def shown_positions(rows_before: Sequence[int], minority: int | None) -> list[int]:
    """The positions of the classes shown, in their given order: the minority's (at
    ``minority``) and the largest by ``rows_before``.

    Example:
        >>> shown_positions([5, 1, 9], 1)
        [0, 1, 2]
    """
    others = sorted(
        (i for i in range(len(rows_before)) if i != minority), key=lambda i: -rows_before[i]
    )
    chosen = {minority} if minority is not None else set()
    chosen.update(others[: SHOWN_CLASSES - len(chosen)])
    return [i for i in range(len(rows_before)) if i in chosen]


@dataclass(frozen=True)
class Plan:
    """The full decision for one run; Spark code only executes it."""

    request: TargetRequest
    minority_label: Label
    batch_size: int
    classes: tuple[ClassPlan, ...]
    input_size_bytes: int | None = None

    def for_label(self, label: Label) -> ClassPlan:
        return self._class_by_label[(type(label), label)]

    @cached_property
    def _class_by_label(self) -> dict[tuple[type, Label], ClassPlan]:
        return {(type(c.label), c.label): c for c in self.classes}

    @property
    def minority(self) -> ClassPlan:
        return self.for_label(self.minority_label)

    @property
    def shown_labels(self) -> list[Label]:
        """The classes a report lists one by one (``SHOWN_CLASSES``), in label order."""
        minority = next(i for i, c in enumerate(self.classes) if c is self.minority)
        positions = shown_positions([c.rows_before for c in self.classes], minority)
        return [self.classes[i].label for i in positions]

    @property
    def largest(self) -> ClassPlan:
        return max(self.classes, key=lambda c: c.rows_before)

    @property
    def rows_before(self) -> int:
        return sum(c.rows_before for c in self.classes)

    @property
    def expected_rows_after(self) -> float:
        return sum(c.expected_rows_after for c in self.classes)

    @property
    def factor(self) -> float:
        """The largest per-class factor (the factor, for a binary table)."""
        return max(c.factor for c in self.classes)

    @property
    def is_noop(self) -> bool:
        return not any(c.is_downsampled for c in self.classes)

    @property
    def keep_fractions(self) -> dict[Label, float]:
        return {c.label: c.keep_fraction for c in self.classes}

    @property
    def weight_multipliers(self) -> dict[Label, float]:
        return {c.label: c.weight_multiplier for c in self.classes}

    @property
    def minority_share_before(self) -> float:
        return self.minority.rows_before / self.rows_before

    @property
    def minority_share_after(self) -> float:
        return self.minority.expected_rows_after / self.expected_rows_after

    @property
    def ratio_before(self) -> float:
        return self.largest.rows_before / self.minority.rows_before

    @property
    def ratio_after(self) -> float:
        largest_after = max(c.expected_rows_after for c in self.classes)
        return largest_after / self.minority.expected_rows_after

    @property
    def minority_per_batch_before(self) -> float:
        return rows_per_batch(self.minority.rows_before, self.rows_before, self.batch_size)

    @property
    def minority_per_batch_after(self) -> float:
        return rows_per_batch(
            self.minority.expected_rows_after, self.expected_rows_after, self.batch_size
        )

    @property
    def expected_size_bytes(self) -> int | None:
        if self.input_size_bytes is None:
            return None
        return round(self.input_size_bytes * self.expected_rows_after / self.rows_before)

    @property
    def advice(self) -> tuple[str, ...]:
        return advise(self)

    def sample_groups(self, label_col: str) -> SampleGroups:
        """The plan as per-class groups of ``label_col``, for the sampler and the weight."""
        return SampleGroups(
            columns=(label_col,),
            keep_fractions={(c.label,): c.keep_fraction for c in self.classes},
            weight_multipliers={(c.label,): c.weight_multiplier for c in self.classes},
            rows={(c.label,): c.rows_before for c in self.classes},
        )

    def to_state(self) -> dict[str, Any]:
        """The plan's own fields, JSON-ready: what ``from_state`` rebuilds it from.

        Unlike ``to_dict`` (a summary with derived figures), nothing is computed: saving a
        fitted model stores this and loading it gets the identical plan back.

        Example:
            >>> import json
            >>> plan = plan_rebalance({0: 1_000, 1: 100}, TargetRequest(factor=5))
            >>> Plan.from_state(json.loads(json.dumps(plan.to_state()))) == plan
            True
        """
        return asdict(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Plan:
        """The plan ``to_state`` described (labels keep their JSON type: 1 or 1.0)."""
        return cls(
            request=TargetRequest(**state["request"]),
            minority_label=state["minority_label"],
            batch_size=state["batch_size"],
            classes=tuple(ClassPlan(**c) for c in state["classes"]),
            input_size_bytes=state["input_size_bytes"],
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (labels kept as their own type)."""
        return {
            "request": self.request.describe(),
            "request_form": self.request.form,
            "minority_label": self.minority_label,
            "batch_size": self.batch_size,
            "factor": self.factor,
            "is_noop": self.is_noop,
            "rows_before": self.rows_before,
            "expected_rows_after": self.expected_rows_after,
            "ratio_before": self.ratio_before,
            "ratio_after": self.ratio_after,
            "minority_share_before": self.minority_share_before,
            "minority_share_after": self.minority_share_after,
            "degree_before": degree_of_imbalance(self.minority_share_before),
            "degree_after": degree_of_imbalance(self.minority_share_after),
            "minority_per_batch_before": self.minority_per_batch_before,
            "minority_per_batch_after": self.minority_per_batch_after,
            "input_size_bytes": self.input_size_bytes,
            "expected_size_bytes": self.expected_size_bytes,
            "classes": [
                {
                    "label": c.label,
                    "rows_before": c.rows_before,
                    "factor": c.factor,
                    "keep_fraction": c.keep_fraction,
                    "weight_multiplier": c.weight_multiplier,
                    "expected_rows_after": c.expected_rows_after,
                }
                for c in self.classes
            ],
            "advice": list(self.advice),
        }


def plan_rebalance(
    class_counts: Mapping[Label, int],
    request: TargetRequest,
    batch_size: int = DEFAULT_BATCH_SIZE,
    minority: Label | None = None,
    input_size_bytes: int | None = None,
) -> Plan:
    """Plan a rebalance from class counts.

    Args:
        class_counts: rows per label value (from one aggregation over the input).
        request: how much to downsample, in one of the accepted forms.
        batch_size: the training batch size the advice is given for.
        minority: the label to protect; default the least frequent one.
        input_size_bytes: the input's size on disk, to estimate the output's.

    Example:
        >>> plan = plan_rebalance({0: 1_000_000, 1: 10_000}, TargetRequest(factor=20))
        >>> round(plan.expected_rows_after), round(plan.minority_per_batch_after, 1)
        (60000, 21.3)
    """
    if batch_size < 1:
        raise PlanError(
            f"batch size must be at least 1 (got {batch_size})", fix={"batch_size": None}
        )
    present_counts = {label: rows for label, rows in class_counts.items() if rows > 0}
    if not present_counts:
        raise InputError("the input has no rows with a label: rebalance a non-empty table")
    if len(present_counts) == 1:
        only = next(iter(present_counts))
        raise InputError(
            f"the label column holds a single class ({only!r}): nothing to rebalance; "
            "check the label column",
            fix={"label": None},
        )
    minority_label = resolve_minority(present_counts, minority)
    factors = factors_per_class(present_counts, minority_label, request, batch_size)
    classes = tuple(
        ClassPlan(label=label, rows_before=present_counts[label], factor=factors[label])
        for label in sorted(present_counts, key=_label_order)
    )
    return Plan(
        request=request,
        minority_label=minority_label,
        batch_size=batch_size,
        classes=classes,
        input_size_bytes=input_size_bytes,
    )


def check_no_class_vanishes(plan: Plan) -> None:
    """Refuse a Bernoulli-sampled plan that could leave a class with no row at all."""
    for c in plan.classes:
        if c.is_downsampled and c.expected_rows_after < MIN_EXPECTED_KEPT_ROWS:
            raise PlanError(
                f"class {c.label!r} would keep about {c.expected_rows_after:,.1f} of its "
                f"{c.rows_before:,} rows and could come out empty (chance about "
                f"{math.exp(-c.expected_rows_after):.1%}): ask for less downsampling, or for "
                "exact counts, which keep at least one row",
                fix={"exact": True},
            )


def exact_rows(rows: int, factor: float) -> int:
    """The row count an exact run keeps of ``rows`` divided by ``factor``: rounded, >= 1."""
    return max(1, round(rows / factor))


def with_realized_factors(plan: Plan) -> Plan:
    """The plan of an exact run weighted by realized factors: rows before / rows kept.

    Each kept row then weighs exactly what its class lost, so weighted class totals equal
    the input's to the last row; the nominal factor F leaves a rounding difference below F.
    """
    classes = tuple(
        replace(c, factor=c.rows_before / exact_rows(c.rows_before, c.factor))
        if c.is_downsampled
        else c
        for c in plan.classes
    )
    return replace(plan, classes=classes)


def stated_factor_plan(
    class_counts: Mapping[Label, int],
    factor: float,
    minority: Label,
    batch_size: int = DEFAULT_BATCH_SIZE,
    input_size_bytes: int | None = None,
) -> Plan:
    """The plan a one-pass run executes: every class but ``minority`` divided by exactly F.

    The counts are only known after the pass (observed while writing), so unlike
    ``plan_rebalance`` no class is protected from falling below the minority; the advice
    says when one did.

    Example:
        >>> stated_factor_plan({0: 1_000_000, 1: 10_000}, 20, 1).expected_rows_after
        60000.0
    """
    request = TargetRequest(factor=factor)
    classes = tuple(
        ClassPlan(label=label, rows_before=rows, factor=1.0 if label == minority else factor)
        for label, rows in sorted(class_counts.items(), key=lambda item: _label_order(item[0]))
    )
    return Plan(request, minority, batch_size, classes, input_size_bytes)


def _label_order(label: Label) -> tuple[str, Label]:
    return (str(type(label)), label)


def advise(plan: Plan) -> tuple[str, ...]:
    """What an expert would say about this plan before a row is written."""
    degree = degree_of_imbalance(plan.minority_share_before)
    share = plan.minority_share_before
    advice = [f"Before: {share:.2%} minority, {degree}; ratio {plan.ratio_before:,.4g}:1."]
    if degree in ("balanced", "mild"):
        advice.append(
            "Mild or balanced: train on the original data first and keep it as a baseline."
        )
    elif degree == "moderate":
        advice.append(
            "Moderate: many such tables need no treatment; train on the original data "
            "first and keep it as a baseline."
        )
    advice.extend(_batch_advice(plan))
    advice.extend(_class_warnings(plan))
    if plan.is_noop:
        advice.append(
            "No class is above the target: nothing is downsampled, every row keeps its weight."
        )
    after_degree = degree_of_imbalance(plan.minority_share_after)
    advice.append(
        f"After: {plan.minority_share_after:.2%} minority, {after_degree}; ratio "
        f"{plan.ratio_after:,.4g}:1; about {plan.expected_rows_after:,.0f} rows."
    )
    if plan.expected_size_bytes is not None:
        advice.append(f"Expected output size: about {human_bytes(plan.expected_size_bytes)}.")
    return tuple(advice)


def _batch_advice(plan: Plan) -> list[str]:
    wanted = plan.request.min_minority_per_batch or ADVISED_MINORITY_PER_BATCH
    batch_needed = math.ceil(wanted * plan.rows_before / plan.minority.rows_before)
    lines = [
        f"A batch of {plan.batch_size} holds about {plan.minority_per_batch_before:.1f} minority "
        f"rows unchanged and {plan.minority_per_batch_after:.1f} after."
    ]
    if plan.minority_per_batch_before < wanted:
        lines.append(
            f"Without downsampling, a batch of at least {batch_needed:,} would hold "
            f"{wanted} minority rows."
        )
    return lines


# A per-class warning names at most this many classes, then counts the rest.
_NAMED_CLASSES = 5


def _class_warnings(plan: Plan) -> list[str]:
    warnings = []
    minority_rows = plan.minority.rows_before
    if minority_rows < FEW_ROWS:
        warnings.append(
            f"Warning: the minority class has only {minority_rows:,} rows; "
            "any model will see few examples of it."
        )
    request_factor = plan.request.factor
    downsampled = [c for c in plan.classes if c.is_downsampled]
    divided_less = [
        c
        for c in plan.classes
        if request_factor is not None
        and c.label != plan.minority_label
        and c.factor < request_factor
    ]
    if len(divided_less) == 1:
        warnings.append(
            f"Class {divided_less[0].label!r} is divided by {divided_less[0].factor:.4g}, not "
            f"{request_factor:g}, so that it does not fall below the minority class."
        )
    elif divided_less:
        warnings.append(
            f"{_classes_named(divided_less)} are divided by less than {request_factor:g} "
            "(each by its own factor), so that none falls below the minority class."
        )
    below_minority = [c for c in downsampled if c.expected_rows_after < minority_rows]
    if below_minority:
        why = (
            "as the per-class request asks (it is not held to the minority's size)"
            if plan.request.per_class is not None
            else "a one-pass run divides every class by the same F; a two-pass run would not"
        )
        warnings.append(
            f"{_classes_named(below_minority)}: fewer rows than the minority class at the end: "
            f"{why}."
        )
    few_kept = [c for c in downsampled if c.expected_rows_after < FEW_ROWS]
    if few_kept:
        fewest = min(c.expected_rows_after for c in few_kept)
        warnings.append(
            f"Warning: {_classes_named(few_kept)}: as few as about {fewest:,.0f} rows kept; "
            "use a smaller factor."
        )
    heavy = [c for c in plan.classes if c.factor > LARGE_WEIGHT]
    if heavy:
        heaviest = max(c.factor for c in heavy)
        warnings.append(
            f"Warning: {_classes_named(heavy)}: kept rows weigh up to "
            f"{heaviest:,.4g} each, so a handful of rows dominate the loss; prefer a smaller "
            "factor or a larger batch."
        )
    return warnings


def _classes_named(classes: list[ClassPlan]) -> str:
    """``Class 0``, ``Classes 0, 2``, or ``Classes 0, 2, ... and 7 more``."""
    named = ", ".join(repr(c.label) for c in classes[:_NAMED_CLASSES])
    if len(classes) == 1:
        return f"Class {named}"
    rest = len(classes) - _NAMED_CLASSES
    return f"Classes {named}" + (f" and {rest:,} more" if rest > 0 else "")


def human_bytes(size_bytes: float) -> str:
    """A size as people read it: ``212.9 MiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    index = min(int(math.log(max(size_bytes, 1), 1024)), len(units) - 1)
    return f"{size_bytes / 1024**index:,.1f} {units[index]}"


def describe_plan(plan: Plan) -> str:
    """The plan as a short table and its advice, for people at a terminal."""
    headings = ("class", "rows before", "factor", "keep", "weight", "rows after")
    lines = [
        f"Request: {plan.request.describe()}; factor {plan.factor:,.6g}; "
        f"batch size {plan.batch_size}",
        "",
        "{:>12} {:>15} {:>10} {:>9} {:>10} {:>15}".format(*headings),
    ]
    for c in plan.classes:
        marker = " (minority)" if c.label == plan.minority_label else ""
        lines.append(
            f"{c.label!s:>12} {c.rows_before:>15,} {c.factor:>10,.4g} {c.keep_fraction:>9.4%} "
            f"{c.weight_multiplier:>10,.4g} {c.expected_rows_after:>15,.0f}{marker}"
        )
    total_line = f"{'total':>12} {plan.rows_before:>15,} {'':>10} {'':>9} {'':>10}"
    lines += [f"{total_line} {plan.expected_rows_after:>15,.0f}", "", *plan.advice]
    return "\n".join(lines)
