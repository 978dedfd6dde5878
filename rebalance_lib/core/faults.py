"""Named points where a test can end the process, to prove a retry finishes the work, or
signal it, to prove an interrupted run says what it committed."""

from __future__ import annotations

import os
import signal

FAULT_ENV = "REBALANCE_TEST_FAULT"


def fault_point(name: str) -> None:
    """End the process here, as a kill would, when ``REBALANCE_TEST_FAULT`` names this point;
    send it a signal instead when it names one too (``after-data-commit:SIGTERM``).

    A marker file after ``@`` makes the fault fire once: only in the process that creates the
    file (``after-data-commit@/tmp/fired``), so a scheduler's retry of the same command, with
    the same environment, runs through. Never set outside the tests; with the variable unset
    this does nothing.
    """
    fault, _, marker = os.environ.get(FAULT_ENV, "").partition("@")
    point, _, signal_name = fault.partition(":")
    if point != name or (marker and not _first_to_create(marker)):
        return
    if signal_name:
        os.kill(os.getpid(), signal.Signals[signal_name])
        return
    os._exit(137)


def _first_to_create(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
