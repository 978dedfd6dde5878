"""Spark's and Delta's failures while reading or writing, as one error that names the fix.

A failure comes back as pyspark's exception (classic or Spark Connect), or, on a classic
session, as py4j's error around the Java one (``java_errors``); either way it is matched on
the error conditions it carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.errors import PySparkException

from rebalance_lib.core.errors import InputError, OutputError, RebalanceError
from rebalance_lib.storage.java_errors import java_causes

# Delta's conditions (and exception classes) for a commit another writer got in first.
_CONCURRENT = ("DELTA_CONCURRENT", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED")
_CONCURRENT_CLASSES = ("io.delta.exceptions.", "ConcurrentModificationException")
_FILE = re.compile(r"reading file (\S+?)\.? (?:File does not exist|Could not read footer)")


def _causes(error: BaseException) -> tuple[tuple[str, ...], str] | None:
    if isinstance(error, PySparkException):
        return (error.getCondition() or "",), str(error)
    return java_causes(error)


def storage_failure(
    error: BaseException, reading: str, writing: str | None
) -> RebalanceError | None:
    """``error`` as one error naming its fix, or None when it is none of the known failures.

    Args:
        reading: the input, as the message names it.
        writing: the output being written, if any (a concurrent commit is only looked for then).
    """
    found = _causes(error)
    if found is None:
        return None
    names, text = found
    file = _FILE.search(text)
    shown = f" ({file.group(1)})" if file else ""
    if any(name.endswith("FILE_NOT_EXIST") for name in names) or (
        "java.io.FileNotFoundException" in names
    ):
        return InputError(
            f"a data file of {reading} is missing{shown}: restore it, or, if it is lost, drop it "
            "from the table with FSCK REPAIR TABLE and rerun"
        )
    if any(name.endswith("CANNOT_READ_FILE_FOOTER") for name in names):
        return InputError(
            f"{reading} holds a file that is not Parquet{shown}: its footer cannot be read; "
            "state the input's format, or remove the files of other formats",
            fix={"input_format": None},
        )
    concurrent = any(name.startswith(_CONCURRENT) for name in names) or any(
        marker in name for name in names for marker in _CONCURRENT_CLASSES
    )
    if writing is not None and concurrent:
        return OutputError(
            f"another run wrote {writing} first: nothing of this run was committed; the data "
            "files it wrote stay there unreferenced (they cannot be told from another "
            "writer's): remove them with VACUUM once no write is under way, then rerun to a "
            "new path or overwrite",
            fix={"mode": "overwrite"},
        )
    return None


def unknown_failure(error: BaseException) -> str | None:
    """The error condition (or Java class) of a Spark failure no known one matched; None
    when ``error`` did not come from Spark."""
    found = _causes(error)
    if found is None:
        return None
    return next((name for name in found[0] if name), type(error).__name__)


@contextmanager
def named_failures(reading: str, writing: str | None = None) -> Iterator[None]:
    """Turn a known Spark or Delta failure inside the block into its one error."""
    try:
        yield
    except RebalanceError:
        raise
    except Exception as error:
        failure = storage_failure(error, reading, writing)
        if failure is None:
            raise
        raise failure from None
