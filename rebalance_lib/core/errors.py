"""The one error family of rebalance: every message says what is wrong and how to fix it."""


class RebalanceError(Exception):
    """Base class; the CLI prints the message as one line and exits non-zero."""

    exit_code = 2


class ConfigError(RebalanceError):
    """The configuration (YAML or command line) is invalid."""


class PlanError(RebalanceError):
    """The request cannot be planned on these class counts."""


class InputError(RebalanceError):
    """The input table is missing or its contents cannot be rebalanced."""


class OutputError(RebalanceError):
    """The output cannot be written without losing or clobbering data."""


class EnvironmentSetupError(RebalanceError):
    """Spark or Delta cannot be started on this machine."""

    exit_code = 3
