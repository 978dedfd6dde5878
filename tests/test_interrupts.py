"""SIGINT and SIGTERM become one stop, raised where the main thread's JVM connection is whole."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from rebalance_lib import interrupts
from rebalance_lib.interrupts import Progress, Stopping, Terminated

ENDLESS_ROWS = 10**13  # summed at about 10^9 rows a second: hours, unless cancelled
LONGER_THAN_ANY_TEST = 60  # seconds: a sleep that ends only if no stop came


@pytest.fixture
def quieted(spark: SparkSession) -> Iterator[SparkSession]:
    """The session, its log configuration read again after a stop turned every logger off."""
    yield spark
    spark._jvm.org.apache.logging.log4j.core.config.Configurator.reconfigure()  # type: ignore[union-attr]
    spark.sparkContext.setLogLevel("ERROR")


@pytest.fixture
def signal_main_thread() -> Iterator[list[threading.Timer]]:
    """Send the main thread signals later; what is not sent by the end is not sent."""
    timers: list[threading.Timer] = []
    yield timers
    for timer in timers:
        timer.cancel()


def send_later(timers: list[threading.Timer], seconds: float, signal_number: int) -> None:
    main_thread = threading.main_thread().ident
    timer = threading.Timer(seconds, signal.pthread_kill, (main_thread, signal_number))
    timers.append(timer)
    timer.start()


@pytest.mark.parametrize(
    ("signal_number", "stop"),
    [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)],
)
def test_a_signal_during_a_spark_job_cancels_it_and_the_next_call_reads_its_own_answer(
    quieted: SparkSession,
    signal_main_thread: list[threading.Timer],
    signal_number: int,
    stop: type[BaseException],
) -> None:
    """The signal lands while the main thread waits in py4j for a job: the job is cancelled,
    the stop comes out of the call, and the thread's connection answers the next call, not
    the abandoned one (which fails with an unrelated error when the stop is raised inside)."""
    spark = quieted
    stopping = Stopping(Progress(spark=spark))
    stopping.install()
    send_later(signal_main_thread, 2.0, signal_number)
    try:
        with pytest.raises(stop), stopping.errors_as_stop():
            spark.range(0, ENDLESS_ROWS, numPartitions=2).selectExpr("sum(id % 7)").collect()
    finally:
        stopping.close()
    assert stopping.requested == signal.Signals(signal_number).name
    assert stopping.waited
    assert spark.range(7).count() == 7
    assert spark.sql("SELECT 'whole' AS answer").first() == ("whole",)


def test_a_signal_during_a_jvm_call_with_no_job_stops_once_the_call_returns(
    quieted: SparkSession, signal_main_thread: list[threading.Timer]
) -> None:
    spark = quieted
    stopping = Stopping(Progress(spark=spark))
    stopping.install()
    returned = []
    send_later(signal_main_thread, 0.3, signal.SIGTERM)
    try:
        with pytest.raises(Terminated), stopping.errors_as_stop():
            spark._jvm.java.lang.Thread.sleep(1500)  # type: ignore[union-attr]  # classic session
            returned.append("the call")
            time.sleep(LONGER_THAN_ANY_TEST)  # the next nudge finds the call over
    finally:
        stopping.close()
    assert returned == ["the call"]
    assert stopping.waited
    assert spark.range(3).count() == 3


def interrupted_sleep(
    timers: list[threading.Timer], stop: type[BaseException], *sent: tuple[float, int]
) -> Stopping:
    """A long sleep under a Stopping, with signals sent at their times: they must stop it."""
    stopping = Stopping(Progress())
    stopping.install()
    for seconds, signal_number in sent:
        send_later(timers, seconds, signal_number)
    try:
        with pytest.raises(stop):
            time.sleep(LONGER_THAN_ANY_TEST)
    finally:
        stopping.close()
    return stopping


def test_a_signal_outside_the_jvm_stops_at_once_and_the_handlers_are_given_back(
    signal_main_thread: list[threading.Timer],
) -> None:
    handlers_before = [signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)]
    stopping = interrupted_sleep(signal_main_thread, Terminated, (0.2, signal.SIGTERM))
    assert not stopping.waited
    assert [signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGINT)] == handlers_before


def test_a_second_signal_does_not_wait_for_the_jvm_call(
    monkeypatch: pytest.MonkeyPatch, signal_main_thread: list[threading.Timer]
) -> None:
    """The main thread seems to wait in a JVM call that never returns: the first Ctrl-C
    waits, the second stops (with no time limit on the wait, only it can)."""
    monkeypatch.setattr(interrupts, "in_jvm_call", lambda frame: True)
    monkeypatch.setattr(interrupts, "_LONGEST_WAIT_SECONDS", 10 * LONGER_THAN_ANY_TEST)
    sent = [(0.2, signal.SIGINT), (0.8, signal.SIGINT)]
    assert interrupted_sleep(signal_main_thread, KeyboardInterrupt, *sent).waited


def test_a_jvm_call_that_does_not_return_is_left_after_the_longest_wait(
    monkeypatch: pytest.MonkeyPatch, signal_main_thread: list[threading.Timer]
) -> None:
    monkeypatch.setattr(interrupts, "in_jvm_call", lambda frame: True)
    monkeypatch.setattr(interrupts, "_LONGEST_WAIT_SECONDS", 0.5)
    assert interrupted_sleep(signal_main_thread, Terminated, (0.2, signal.SIGTERM)).waited
