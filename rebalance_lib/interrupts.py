"""SIGINT and SIGTERM during a command: the jobs cancelled, one line on what was committed.

A signal's handler runs between two Python steps of the main thread, and may land while that
thread waits for the JVM's answer to a call. py4j keeps one connection per thread: a call left
there before its answer was read leaves the answer to be read by the thread's next call (the
one that says what was committed), which then fails with an unrelated error. So the stop is
raised at once only outside py4j's frames. Inside them the handler leaves it to another thread
to cancel the running jobs and signal again, until the main thread has left the call.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyspark.sql import SparkSession

from rebalance_lib.storage import lineage
from rebalance_lib.storage.session import cancel_jobs, in_jvm_call, set_log_level

_RESEND_SECONDS = 0.1
_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells report


class Terminated(BaseException):  # a signal, not an error
    """SIGTERM arrived (a scheduler stopping the job). Like KeyboardInterrupt, not an
    Exception, so that no library's ``except Exception`` turns it into its own error."""


@dataclass
class Progress:
    """Where a run stands, so an interrupted one can say what was and was not committed."""

    spark: SparkSession | None = None
    output: str | None = None
    run_id: str | None = None

    def cancel_quietly(self) -> None:
        """Stop the running jobs without Spark's log of every task it abandons."""
        if self.spark is None:
            return
        try:
            set_log_level(self.spark, "OFF")
            cancel_jobs(self.spark)
        except Exception:  # best effort while stopping: the JVM may be gone
            pass

    def said(self) -> str:
        if self.spark is None or self.output is None or self.run_id is None:
            return "nothing was written"
        try:
            commits = [
                commit
                for commit in lineage.rebalance_history(self.spark, self.output)
                if commit["run_id"] == self.run_id
            ]
        except Exception:  # best effort while stopping: the JVM may be gone
            return (
                f"nothing of run {self.run_id} was committed to {self.output} "
                "(Delta commits are atomic; no table there yet, or it could not be read)"
            )
        if not commits:
            return (
                f"nothing of run {self.run_id} was committed to {self.output} (commits are atomic)"
            )
        return (
            f"run {self.run_id} committed its data to {self.output} as Delta version "
            f"{commits[-1]['version']}; its report may be missing"
        )


@dataclass
class Stopping:
    """The handler of SIGINT and SIGTERM for one command; `install` it, `close` it after."""

    progress: Progress
    requested: str | None = None  # the first signal's name
    _received: int = 0
    _resent: int = 0
    _resender: threading.Thread | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)
    _previous: dict[int, Any] = field(default_factory=dict)

    def install(self) -> None:
        """Handle both signals from here on; again after Spark's start put its own in place."""
        for signal_number in _NAMES:
            previous = signal.signal(signal_number, self._handle)
            self._previous.setdefault(signal_number, previous)

    def close(self) -> None:
        """Stop signalling again, and give the handlers back."""
        self._stopped.set()
        if self._resender is not None:
            self._resender.join()
        for signal_number, handler in self._previous.items():
            signal.signal(signal_number, handler)

    @contextmanager
    def errors_as_stop(self) -> Iterator[None]:
        """Within: once a stop is requested, an error (the cancelled job's) is the stop."""
        try:
            yield
        except Exception:
            if self.requested:
                raise self.exception() from None
            raise

    def exception(self) -> BaseException:
        """The stop as an exception, for an error that was the cancelled job's."""
        self._stopped.set()
        return Terminated() if self.requested == "SIGTERM" else KeyboardInterrupt()

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        self._received += 1
        if self._stopped.is_set():
            return
        self.requested = self.requested or _NAMES[signal.Signals(signal_number)]
        sent_by_a_person = self._received - self._resent
        if sent_by_a_person > 1 or not in_jvm_call(frame):  # a second signal does not wait
            raise self.exception()
        if self._resender is None:
            self._resender = threading.Thread(
                target=self._cancel_and_resend,
                args=(signal_number, threading.main_thread().ident),
                name="rebalance-stop",
                daemon=True,
            )
            self._resender.start()

    def _cancel_and_resend(self, signal_number: int, main_thread: int) -> None:
        # The call under way may start one job after another (a Delta write does): each is
        # cancelled, from this thread's own connection, until the main thread is out of it.
        while not self._stopped.is_set():
            self.progress.cancel_quietly()
            self._resent += 1
            signal.pthread_kill(main_thread, signal_number)
            self._stopped.wait(_RESEND_SECONDS)
