"""The one error family of rebalance: every message says what is wrong and how to fix it.

Messages speak the domain ("factor must be at least 1"). Which setting to change is
carried apart, as parameter names of the API (``fix``), so each door names it in its own
words: the API as ``factor=...``, the command line as ``--factor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Setting = Callable[[str, Any], str]


def api_setting(name: str, value: Any) -> str:
    """How the API names a setting: ``null_labels='drop'``, or just ``factor``."""
    return name if value is None else f"{name}={value!r}"


class RebalanceError(Exception):
    """Base class; a door shows the message as one line (the CLI exits with ``exit_code``)."""

    exit_code = 2

    def __init__(self, message: str, *, fix: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # API parameter -> the value to try (None: the parameter itself).
        self.fix: dict[str, Any] = dict(fix or {})

    def render(self, setting: Setting = api_setting) -> str:
        """The message, then the settings that fix it, each named by ``setting``."""
        if not self.fix:
            return self.message
        named = ", ".join(setting(name, value) for name, value in self.fix.items())
        return f"{self.message} [{named}]"

    def __str__(self) -> str:
        return self.render()


class ConfigError(RebalanceError):
    """The options (API arguments, YAML or command line) are invalid or contradict each other."""


class PlanError(RebalanceError):
    """The request cannot be planned on these class counts."""


class InputError(RebalanceError):
    """The input table is missing or its contents cannot be rebalanced."""


class OutputError(RebalanceError):
    """The output cannot be written without losing or clobbering data."""


class ChecksFailedError(RebalanceError):
    """The output was committed, but its own checks (counts, bias, classes kept) failed."""

    exit_code = 4


class EnvironmentSetupError(RebalanceError):
    """Spark or Delta cannot be started on this machine."""

    exit_code = 3


class NothingToDo(RebalanceError):  # noqa: N818  # not an error: the work is already done
    """The request is already fulfilled (an increment with no new source rows)."""

    exit_code = 0
