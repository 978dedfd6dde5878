"""Each phase of a run logged as it starts and ends, and timed for the report."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("rebalance_lib.runs")


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
