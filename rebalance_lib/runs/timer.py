"""Each phase of a run timed for the report and said in one line when it ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("rebalance_lib.runs")


@dataclass
class PhaseNote:
    """What a phase found, for its line: ``found = "2,000,000 rows"``."""

    found: str = ""


@dataclass
class PhaseTimer:
    """Times each phase for the report; logs one line per phase as it ends (its start only
    with ``--verbose``)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str, what: str) -> Iterator[PhaseNote]:
        log.debug("[%s] %s ...", name, what)
        note = PhaseNote()
        started = time.perf_counter()
        yield note
        self.seconds[name] = round(time.perf_counter() - started, 3)
        found = f"{note.found}, " if note.found else ""
        log.info("[%s] %s: %s%.1f s", name, what, found, self.seconds[name])
