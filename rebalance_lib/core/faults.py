"""Named points where a test can end the process, to prove a retry finishes the work."""

from __future__ import annotations

import os

FAULT_ENV = "REBALANCE_TEST_FAULT"


def fault_point(name: str) -> None:
    """End the process here, as a kill would, when ``REBALANCE_TEST_FAULT`` names this point.

    Never set outside the tests; with the variable unset this does nothing.
    """
    if os.environ.get(FAULT_ENV) == name:
        os._exit(137)
