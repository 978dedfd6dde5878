"""Stable incremental reruns, the pure side: is the last run one to extend, and its plan.

With the hash sampler, whether a row is kept depends only on its key, the seed and its
class's keep fraction. Reusing the previous run's fractions, seed and key, the rows chosen
before stay chosen, and each new row gets the decision a full rerun would give it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rebalance_lib.core.errors import ConfigError, InputError
from rebalance_lib.core.plan import ClassPlan, Plan
from rebalance_lib.core.targets import Label, TargetRequest


@dataclass(frozen=True)
class PreviousRun:
    """The lineage of the output's last rebalance commit."""

    lineage: dict[str, Any]

    @property
    def source_version(self) -> int:
        return int(self.lineage["source_version"])

    @property
    def class_factors(self) -> dict[str, float]:
        return dict(self.lineage["class_factors"])


def extendable_run(last_lineage: Mapping[str, Any], wanted: Mapping[str, Any]) -> PreviousRun:
    """The last run, checked to be one an increment with the ``wanted`` settings can extend."""
    different = [
        f"{name} {last_lineage.get(name)!r} (now {value!r})"
        for name, value in wanted.items()
        if last_lineage.get(name) != value
    ]
    if different:
        raise ConfigError(
            "an increment must repeat the last run's source, hash sampler, seed, key and "
            f"columns; it had {', '.join(different)}"
        )
    if (
        last_lineage.get("grouped")
        or last_lineage.get("exact")
        or last_lineage.get("sweep_factors")
    ):
        raise ConfigError(
            "an increment extends label-level runs only; the last run used strata, a split, "
            "exact counts or a factor sweep: rerun in full and overwrite",
            fix={"mode": "overwrite"},
        )
    return PreviousRun(dict(last_lineage))


def increment_plan(previous: PreviousRun, class_counts: dict[Label, int], batch_size: int) -> Plan:
    """The previous run's per-class factors applied to the appended rows' classes."""
    factors = previous.class_factors
    unknown = [label for label in class_counts if str(label) not in factors]
    if unknown:
        raise InputError(
            f"the appended rows hold label value(s) {', '.join(map(str, unknown))} the last run "
            "did not plan: rerun in full and overwrite",
            fix={"mode": "overwrite"},
        )
    classes = tuple(
        ClassPlan(label, rows, factors[str(label)])
        for label, rows in sorted(class_counts.items(), key=lambda item: str(item[0]))
    )
    minority = previous.lineage.get("minority_label")
    if minority not in class_counts:
        minority = min(class_counts, key=lambda label: factors[str(label)])
    return Plan(TargetRequest(factor=max(c.factor for c in classes)), minority, batch_size, classes)
