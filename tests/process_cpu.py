"""CPU seconds of a process and everything it starts, read from Linux's /proc: on a machine of
two cores the suite's wall time follows the CPU its tests burn, summed over the JVMs, servers
and tools they start.

A process started by a child can outlive it and leave the tree (a JVM that pyspark started
for a command the test ran, a daemon a script put in the background), and a child that is
never waited for adds nothing to its parent's account. So ``CpuMeter`` looks at the tree
twice a second, keeps every process it has seen below the root even after it moves, and sums
the last CPU figure of each.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = (_PROC / pid / "stat").read_text()
    except OSError:  # gone between the listing and the read
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ", whatever comm holds


class CpuMeter:
    """User and system seconds of ``root`` (this process by default) and of every process
    seen below it since the meter started; zero where there is no /proc."""

    def __init__(self, root: int | None = None, interval_s: float = 0.5) -> None:
        self._root = str(root or os.getpid())
        self._seen: dict[tuple[str, str], int] = {}  # (pid, start time) -> last ticks
        self._lock = threading.Lock()
        if _PROC.is_dir():
            watcher = threading.Thread(
                target=self._watch, args=(interval_s,), name="cpu-meter", daemon=True
            )
            watcher.start()

    def _watch(self, interval_s: float) -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(interval_s)
            self.seconds()

    def seconds(self) -> float:
        """Look at the tree now and return the sum so far."""
        if not _PROC.is_dir():
            return 0.0
        children: dict[str, list[str]] = {}
        stats: dict[str, list[str]] = {}
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                fields = _stat_fields(entry.name)
                if fields is not None:
                    stats[entry.name] = fields
                    children.setdefault(fields[1], []).append(entry.name)
        with self._lock:
            # fields[1] is the parent, fields[11:13] utime and stime, fields[19] the start time
            below = [self._root]
            pending = list(children.get(self._root, ()))
            while pending:
                pid = pending.pop()
                below.append(pid)
                pending.extend(children.get(pid, ()))
            known = {pid for pid, _ in self._seen}
            for pid in {*below, *(known & stats.keys())}:
                fields = stats.get(pid)
                if fields is None:
                    continue
                key = (pid, fields[19])
                if pid in below or key in self._seen:
                    self._seen[key] = int(fields[11]) + int(fields[12])
            return sum(self._seen.values()) / _TICKS


def machine_cpu_seconds() -> float:
    """User, nice and system seconds of every core since boot (zero without /proc)."""
    try:
        first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in first[1:4]) / _TICKS
