"""SIGINT and SIGTERM become one stop, raised where the main thread's JVM connection is whole."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from pyspark.sql import SparkSession

from rebalance_lib.interrupts import Progress, Stopping, Terminated

ENDLESS_ROWS = 10**13  # summed at about 10^9 rows a second: hours, unless cancelled


def signal_main_thread_after(seconds: float, signal_number: int) -> threading.Timer:
    timer = threading.Timer(
        seconds, signal.pthread_kill, (threading.main_thread().ident, signal_number)
    )
    timer.start()
    return timer


@pytest.mark.parametrize(
    ("signal_number", "stop"),
    [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)],
)
def test_a_signal_during_a_spark_job_cancels_it_and_the_next_call_reads_its_own_answer(
    spark: SparkSession, signal_number: int, stop: type[BaseException]
) -> None:
    """The signal lands while the main thread waits in py4j for a job: the job is cancelled,
    the stop comes out of the call, and the thread's connection answers the next call, not
    the abandoned one (which fails with an unrelated error when the stop is raised inside)."""
    stopping = Stopping(Progress(spark=spark))
    stopping.install()
    timer = signal_main_thread_after(2.0, signal_number)
    try:
        with pytest.raises(stop), stopping.errors_as_stop():
            spark.range(0, ENDLESS_ROWS, numPartitions=2).selectExpr("sum(id % 7)").collect()
    finally:
        timer.cancel()
        stopping.close()
        spark.sparkContext.setLogLevel("ERROR")  # the stop turned Spark's log off
    assert stopping.requested == signal.Signals(signal_number).name
    assert spark.range(7).count() == 7
    assert spark.sql("SELECT 'whole' AS answer").first() == ("whole",)


def test_a_signal_outside_the_jvm_stops_at_once_and_the_handler_is_given_back() -> None:
    handler_before = signal.getsignal(signal.SIGTERM)
    stopping = Stopping(Progress())
    stopping.install()
    timer = signal_main_thread_after(0.2, signal.SIGTERM)
    try:
        with pytest.raises(Terminated):
            time.sleep(60)
    finally:
        timer.cancel()
        stopping.close()
    assert signal.getsignal(signal.SIGTERM) is handler_before
