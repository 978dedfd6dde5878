"""Each phase of a run timed for the report, said in one line when it ends, and named in the
Spark UI on the jobs it starts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

log = logging.getLogger("rebalance_lib.runs")


@dataclass
class PhaseNote:
    """What a phase found, for its line: ``found = "2,000,000 rows"``."""

    found: str = ""


@dataclass
class PhaseTimer:
    """Times each phase for the report; logs one line per phase as it ends (its start only
    with ``--verbose``). ``describe`` names the Spark jobs started inside a phase (the
    session's ``described``); without it they keep their own names."""

    describe: Callable[[str], AbstractContextManager[None]] = field(
        default=lambda job: nullcontext()
    )
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str, what: str, *, job: str) -> Iterator[PhaseNote]:
        """Time phase ``name``; ``what`` is its line in the log (what was done), ``job`` the
        description of its Spark jobs (what they do, and to which table)."""
        log.debug("[%s] %s ...", name, what)
        note = PhaseNote()
        started = time.perf_counter()
        with self.describe(job):
            yield note
        self.seconds[name] = round(time.perf_counter() - started, 3)
        found = f"{note.found}, " if note.found else ""
        log.info("[%s] %s: %s%.1f s", name, what, found, self.seconds[name])
