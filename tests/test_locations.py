"""Places compared by store and path (pure: the core's ``locations``): the overlap check that
keeps an output out of its input, on every store a table lives in."""

from __future__ import annotations

import doctest

import pytest

from rebalance_lib.core import locations
from rebalance_lib.core.locations import Location, location, overlap

ADLS = "acct.dfs.core.windows.net"


@pytest.mark.parametrize(
    ("first", "second", "overlapping"),
    [
        # one store, three schemes
        ("s3://raw/events", "s3a://raw/events", True),
        ("s3n://raw/events", "s3a://raw/events/day=1", True),
        ("s3a://raw/events", "s3a://raw/events_v2", False),  # a prefix of the name only
        # buckets compared, without case or credentials
        ("s3a://raw/events", "s3a://curated/events", False),
        ("s3a://RAW/events", "s3a://raw/events", True),
        ("s3a://key:secret@raw/events", "s3a://raw/events/x", True),
        # a bucket's root: another bucket's tables are not in it, its own are
        ("s3a://curated", "s3a://raw/events", False),
        ("s3a://curated/", "s3a://curated/events", True),
        # trailing slashes, dots and repeated slashes
        ("s3a://raw/events/", "s3a://raw/events", True),
        ("s3a://raw/events/../events", "s3a://raw/events/day=1", True),
        ("s3a://raw//events/./day=1", "s3a://raw/events", True),
        # ADLS: abfs and abfss, the blob endpoint too; container@account compared
        (f"abfs://c@{ADLS}/t", f"abfss://c@{ADLS}/t/part", True),
        (f"abfss://c@{ADLS}/t", "wasbs://c@acct.blob.core.windows.net/t", True),
        (f"abfss://c@{ADLS}/t", f"abfss://d@{ADLS}/t", False),
        (f"abfss://c@{ADLS}/t", "abfss://c@other.dfs.core.windows.net/t", False),
        # GCS, and stores never one another
        ("gs://raw/events", "gs://raw/events/day=1", True),
        ("gs://raw/events", "s3a://raw/events", False),
        ("gs://raw/events", "/raw/events", False),
        # DBFS and its FUSE mount
        ("dbfs:/mnt/raw/events", "/dbfs/mnt/raw/events", True),
        ("dbfs:/mnt/raw", "file:/dbfs/mnt/raw/events/day=1", True),
        ("dbfs:/mnt/raw/events", "/dbfs/mnt/curated/events", False),
        ("dbfs:/mnt/raw", "/mnt/raw", False),
        # file: and bare local paths
        ("file:/data/events", "/data/events", True),
        ("file:///data/events/", "/data/events/day=1", True),
        ("file:/data/events", "/data/events_v2", False),
        # HDFS: name nodes compared; the default one may be any
        ("hdfs://nn1:8020/t", "hdfs://nn2:8020/t", False),
        ("hdfs:///t", "hdfs://nn1:8020/t/part", True),
        ("hdfs://nn1:8020/t", "hdfs://NN1:8020/t", True),
    ],
)
def test_two_places_overlap_only_in_one_store_and_authority(
    first: str, second: str, overlapping: bool
) -> None:
    assert overlap(first, second) is overlapping
    assert overlap(second, first) is overlapping


@pytest.mark.parametrize(
    ("written", "place"),
    [
        ("s3a://Raw/events/", Location("s3", "raw", "/events")),
        ("s3a://raw", Location("s3", "raw", "/")),
        (f"abfss://c@{ADLS}/", Location("azure", "c@acct", "/")),
        ("/dbfs", Location("dbfs", "", "/")),
        ("file:/tmp/x/..", Location("file", "", "/tmp")),
        ("unknown://host/a/b/", Location("unknown", "host", "/a/b")),
    ],
)
def test_a_place_is_its_store_authority_and_normalized_path(written: str, place: Location) -> None:
    assert location(written) == place


def test_the_modules_examples_hold() -> None:
    results = doctest.testmod(locations)
    assert results.attempted >= 4 and results.failed == 0
