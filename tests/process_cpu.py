"""CPU seconds of a process tree, read from Linux's /proc: on a machine of two cores the suite's
wall time follows the CPU its tests burn, summed over the JVMs, servers and tools they start."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = (_PROC / pid / "stat").read_text()
    except OSError:  # gone between the listing and the read
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ", whatever comm holds


def tree_cpu_seconds(root: int | None = None) -> float:
    """User and system seconds of ``root`` (this process by default), the children it has
    reaped, and every live descendant with the children each has reaped. Zero where /proc is
    not there. A daemon that left the tree (re-parented to init) is not counted."""
    if not _PROC.is_dir():
        return 0.0
    children: dict[str, list[str]] = {}
    ticks: dict[str, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        # fields[1] is the parent; fields[11:15] are utime, stime, cutime, cstime
        children.setdefault(fields[1], []).append(entry.name)
        ticks[entry.name] = sum(int(value) for value in fields[11:15])
    pending, total = [str(root or os.getpid())], 0
    while pending:
        pid = pending.pop()
        total += ticks.get(pid, 0)
        pending.extend(children.get(pid, ()))
    return total / _TICKS


def machine_cpu_seconds() -> float:
    """User, nice and system seconds of every core since boot (zero without /proc)."""
    try:
        first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in first[1:4]) / _TICKS
