"""SIGINT and SIGTERM during a command: the jobs cancelled, one line on what was committed.

A signal's handler runs between two Python steps of the main thread, and may land while that
thread waits for the JVM's answer to a call. py4j keeps one connection per thread: a call left
there before its answer was read leaves the answer to be read by the thread's next call (the
one that says what was committed), which then fails with an unrelated error. So the stop is
raised at once only outside py4j's frames. Inside them another thread cancels the running jobs
and nudges the main thread until it has left the call (or 10 s have passed); what was
committed is then read on a connection of its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyspark.sql import SparkSession

from rebalance_lib.core.errors import OutputError
from rebalance_lib.core.tables import Table
from rebalance_lib.storage import lineage
from rebalance_lib.storage.session import cancel_jobs_quietly, in_jvm_call
from rebalance_lib.storage.sink import remove_uncommitted

_NUDGE = signal.SIGUSR1  # from the stopping thread to the main thread: is the call over?
_NUDGE_SECONDS = 0.1
_LONGEST_WAIT_SECONDS = 10.0  # for a JVM call with no job to cancel (a stuck file system)
_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells report


class Terminated(BaseException):  # a signal, not an error
    """SIGTERM arrived (a scheduler stopping the job). Like KeyboardInterrupt, not an
    Exception, so that no library's ``except Exception`` turns it into its own error."""


@dataclass
class Progress:
    """Where a run stands, so an interrupted one can say what was and was not committed."""

    spark: SparkSession | None = None
    output: Table | None = None
    run_id: str | None = None
    output_is_new: bool = False  # no file was at the output path before the run

    def cancel_quietly(self) -> None:
        """Stop the running jobs without Spark's log of every task it abandons."""
        if self.spark is not None:
            with suppress(Exception):  # best effort while stopping: the JVM may be gone
                cancel_jobs_quietly(self.spark)

    def _left_behind(self) -> str:
        """Remove what a stopped first write left at a new output (it committed nothing
        there); what could not be removed, said in words to add to the line."""
        if not self.output_is_new or self.spark is None or self.output is None:
            return ""
        try:
            remove_uncommitted(self.spark, self.output)
        except OutputError as left:
            return f"; {left.message}"
        except Exception:  # best effort while stopping: the JVM may be gone
            return f"; {self.output} may hold its uncommitted files: remove them by hand"
        return ""

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
                + self._left_behind()
            )
        if not commits:
            return (
                f"nothing of run {self.run_id} was committed to {self.output} (commits are atomic)"
                + self._left_behind()
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
    _deadline: float = 0.0
    _holding: bool = False
    _stopper: threading.Thread | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)
    _previous: dict[int, Any] = field(default_factory=dict)

    def install(self) -> None:
        """Handle the signals from here on; again after Spark's start put its own in place."""
        for signal_number in (*_NAMES, _NUDGE):
            previous = signal.signal(signal_number, self._handle)
            self._previous.setdefault(signal_number, previous)

    def close(self) -> None:
        """Stop waiting, and give the handlers back."""
        self._stop_waiting()
        for signal_number, handler in self._previous.items():
            signal.signal(signal_number, handler)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Within (Spark's start), a first signal is noted and raised as the block ends.
        Raised inside, it would leave the JVM being launched alive for good, holding the
        command's stderr: pyspark deletes the folder the JVM writes its port to, the JVM's
        main thread dies on it, and its py4j server thread keeps it up."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self.requested:
            raise self.exception()

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
        """The stop as an exception."""
        self._stopped.set()
        return Terminated() if self.requested == "SIGTERM" else KeyboardInterrupt()

    @property
    def waited(self) -> bool:
        """Whether the stop waited for a call into the JVM to return."""
        return self._stopper is not None

    def came_too_late(self) -> bool:
        """After the command returned: whether a signal came as its last call finished."""
        self._stop_waiting()
        return self.requested is not None

    def said(self) -> str:
        """Cancel what still runs and say what was committed, on a thread of its own: a stop
        that could not wait leaves the main thread's connection holding an unread answer."""
        self._stop_waiting()
        answer: list[str] = []

        def cancel_and_say() -> None:
            self.progress.cancel_quietly()
            answer.append(self.progress.said())

        thread = threading.Thread(target=cancel_and_say, name="rebalance-said", daemon=True)
        thread.start()
        thread.join()
        return answer[0] if answer else "what was committed could not be read"

    def _stop_waiting(self) -> None:
        self._stopped.set()
        if self._stopper is not None and self._stopper.ident is not None:
            self._stopper.join()

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        if signal_number == _NUDGE:
            waited_enough = time.monotonic() > self._deadline or not in_jvm_call(frame)
            if self.requested and not self._stopped.is_set() and waited_enough:
                raise self.exception()
            return
        name = _NAMES[signal.Signals(signal_number)]
        if self._holding and not self.requested:
            self.requested = name
            return
        if self.requested and self._stopped.is_set():  # one more signal ends the process
            line = f"rebalance: {name} again: exited without reading what was committed\n"
            os.write(2, line.encode())
            os._exit(EXIT_CODES[name])
        if self.requested or self._stopped.is_set() or not in_jvm_call(frame):  # no wait
            self.requested = self.requested or name
            raise self.exception()
        self.requested = name
        self._deadline = time.monotonic() + _LONGEST_WAIT_SECONDS
        self._stopper = threading.Thread(
            target=self._cancel_and_nudge,
            args=(threading.main_thread().ident,),
            name="rebalance-stop",
            daemon=True,
        )
        self._stopper.start()

    def _cancel_and_nudge(self, main_thread: int) -> None:
        # The call under way may start one job after another (a Delta write does): each is
        # cancelled, from this thread's own connection, until the main thread is out of it.
        while not self._stopped.is_set():
            self.progress.cancel_quietly()
            signal.pthread_kill(main_thread, _NUDGE)
            self._stopped.wait(_NUDGE_SECONDS)
