"""Named points where a test can end the process, to prove a retry finishes the work, or
signal it, to prove an interrupted run says what it committed."""

from __future__ import annotations

import os
import signal

FAULT_ENV = "REBALANCE_TEST_FAULT"


def fault_point(name: str) -> None:
    """End the process here, as a kill would, when ``REBALANCE_TEST_FAULT`` names this point;
    send it a signal instead when it names one too (``after-data-commit:SIGTERM``).

    Never set outside the tests; with the variable unset this does nothing.
    """
    point, _, signal_name = os.environ.get(FAULT_ENV, "").partition(":")
    if point != name:
        return
    if signal_name:
        os.kill(os.getpid(), signal.Signals[signal_name])
        return
    os._exit(137)
