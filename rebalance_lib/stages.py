"""What the stages of a run hand each other: the phase timer and the planned input."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from rebalance_lib.config import RebalanceConfig
from rebalance_lib.core.errors import InputError
from rebalance_lib.core.plan import Plan
from rebalance_lib.grouped import Grouping
from rebalance_lib.storage.source import SourceInfo
from rebalance_lib.transforms.profile import TableProfile

log = logging.getLogger("rebalance_lib.pipeline")


@dataclass
class PhaseTimer:
    """Logs each phase as it starts and ends, and keeps its duration for the report."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str, what: str) -> Iterator[None]:
        log.info("[%s] %s ...", name, what)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        log.info("[%s] done in %.1f s", name, self.seconds[name])


@dataclass(frozen=True)
class Planned:
    """The input opened, profiled and planned: everything `rebalance plan` shows."""

    source_df: DataFrame
    source: SourceInfo
    profile: TableProfile
    plan: Plan
    grouping: Grouping | None = None  # set when planned within strata or the train split

    @property
    def advice(self) -> tuple[str, ...]:
        return self.grouping.plan.advice() if self.grouping else self.plan.advice


def check_profile(profile: TableProfile, config: RebalanceConfig) -> None:
    """Refuse null labels (unless dropped) and unusable weights, with their counts."""
    if profile.null_label_rows and config.label.null_labels == "error":
        raise InputError(
            f"{profile.null_label_rows:,} rows have a null '{config.label.column}': clean them, "
            "or pass --null-labels drop to leave them out (counted in the report)"
        )
    if profile.bad_weight_rows:
        raise InputError(
            f"{profile.bad_weight_rows:,} rows have a null, zero, negative, NaN or infinite weight "
            f"in '{config.weight.input_column}': fix them or filter them out first"
        )
