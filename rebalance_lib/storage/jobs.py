"""What the Spark UI says of the jobs a run starts: each phase's description, its subject named.

Classic-only where it sets a description (the driver's ``sparkContext``); over Spark Connect,
which has no job descriptions, the same text goes with the operations as a tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from rebalance_lib.storage.fs import client_is_driver

DESCRIPTION_KEY = "spark.job.description"
PREFIX = "rebalance: "
# Spark joins a Connect operation's tags with commas, so a tag cannot hold one.
_TAG_SEPARATOR = ","


@contextmanager
def described(spark: SparkSession, description: str) -> Iterator[None]:
    """Every Spark job started in this thread inside carries ``rebalance: <description>``
    (Delta's own jobs keep Delta's); the caller's own description is back afterwards.

    Over Spark Connect the text is an operation tag instead, removed afterwards: the UI's
    Connect page and each job's tags show it.
    """
    text = PREFIX + description
    if client_is_driver(spark):
        # The thread's properties may be shared: a validator's worker threads are all handed
        # one copy of the caller's (pyspark's inheritable_thread_target). Each call sets a
        # copy of its own, so no thread sees another's description, and puts the thread's
        # back untouched.
        context = spark.sparkContext._jsc.sc()
        own = context.getLocalProperties()
        described_properties = own.clone()
        described_properties.setProperty(DESCRIPTION_KEY, text)
        context.setLocalProperties(described_properties)
        try:
            yield
        finally:
            context.setLocalProperties(own)
        return
    tag = text.replace(_TAG_SEPARATOR, ";")
    added = tag not in spark.getTags()
    if added:
        spark.addTag(tag)
    try:
        yield
    finally:
        if added:
            spark.removeTag(tag)
