"""What a Java error raised through py4j says: classic sessions only.

pyspark turns some of the JVM's errors into its own exceptions; the rest (a failed task's
``SparkException``, Delta's concurrent-commit exceptions) come back as py4j's error around
the Java one. This is the one place that opens it; py4j itself is not imported (a Connect
client may not have it), its error is known by its ``java_exception``.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

_PY4J_ERRORS = "py4j.protocol"  # the module of py4j's error around a Java one


def java_causes(error: BaseException) -> tuple[tuple[str, ...], str] | None:
    """The error conditions and class names along a Java error's causes, and its message;
    None when ``error`` is not a Java error raised through py4j."""
    if type(error).__module__ != _PY4J_ERRORS or not hasattr(error, "java_exception"):
        return None
    names: list[str] = []
    throwable: Any = error.java_exception
    while throwable is not None and len(names) < 40:
        with suppress(Exception):  # not a SparkThrowable: its class name says what it is
            names.append(str(throwable.getCondition() or ""))
        names.append(throwable.getClass().getName())
        throwable = throwable.getCause()
    return tuple(name for name in names if name), str(error.java_exception)
