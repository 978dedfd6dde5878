"""Rows of a class per batch of B consecutive rows, as a reader in file order gets them,
against what batches of a random order give. Pure Python.

A streaming loader (tf.data, Ray Data, Petastorm, PyTorch iterable datasets) reads the files
in order through a bounded shuffle buffer, so the batches it makes are close to runs of B
consecutive rows. Spark counts each class in every full batch of the written table and
hands over a histogram (rows of the class in a batch -> batches holding that many); the
figures and the check are computed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rebalance_lib.core.bounds import CHECK_LEVEL, normal_sigmas
from rebalance_lib.core.counts import TaskSpread
from rebalance_lib.core.targets import Label

# Too few batches estimate their spread too loosely to call an order worse than random.
MIN_CHECKED_BATCHES = 30


@dataclass(frozen=True)
class BatchCounts:
    """One class's rows in each full batch of ``batch_size`` consecutive rows."""

    label: Label
    batch_size: int
    class_rows: int  # the class's rows in the whole written table
    table_rows: int
    histogram: Mapping[int, int]  # rows of the class in a batch -> full batches with that many

    @property
    def batches(self) -> int:
        return sum(self.histogram.values())

    @property
    def mean(self) -> float:
        return _mean(self.histogram)

    @property
    def variance(self) -> float:
        """The spread of the class's rows over the batches (population variance)."""
        mean = self.mean
        batches = self.batches
        if batches == 0:
            return 0.0
        return sum(n * (k - mean) ** 2 for k, n in self.histogram.items()) / batches

    def quantile(self, q: float) -> int:
        """The smallest count that at least ``q`` of the batches do not exceed."""
        needed = q * self.batches
        seen = 0
        for count in sorted(self.histogram):
            seen += self.histogram[count]
            if seen >= needed:
                return count
        return 0

    @property
    def share_without(self) -> float:
        """Share of the full batches that hold no row of the class."""
        batches = self.batches
        return self.histogram.get(0, 0) / batches if batches else 0.0

    @property
    def share(self) -> float:
        return self.class_rows / self.table_rows if self.table_rows else 0.0

    @property
    def random_share_without(self) -> float:
        """What random batches give: the binomial chance of no row of the class in B."""
        return (1.0 - self.share) ** self.batch_size

    @property
    def random_variance(self) -> float:
        """A random order's spread: B rows drawn without replacement from the table
        (hypergeometric), which for a large table is the binomial's B p (1 - p)."""
        p, rows = self.share, self.table_rows
        finite = (rows - self.batch_size) / (rows - 1) if rows > 1 else 0.0
        return self.batch_size * p * (1.0 - p) * finite

    @property
    def worse_than_random(self) -> bool:
        """Whether the batches spread the class clearly more than a random order would.

        The observed variance is compared with a random order's plus the standard errors of a
        variance estimated from this many batches (from the binomial's fourth moment) that a
        correct count's bound allows (``CHECK_LEVEL``), so a shuffled table fails it about as
        rarely. Fewer than ``MIN_CHECKED_BATCHES`` batches are not judged.
        """
        batches = self.batches
        if batches < MIN_CHECKED_BATCHES or self.random_variance == 0.0:
            return False
        b, p = self.batch_size, self.share
        var = b * p * (1.0 - p)
        fourth = var * (1.0 + 3.0 * (b - 2) * p * (1.0 - p))
        standard_error = math.sqrt(max(fourth - var * var, 0.0) / batches)
        sigmas = normal_sigmas(CHECK_LEVEL)
        return self.variance > self.random_variance + sigmas * standard_error + 1e-12


def batch_counts(
    histograms: Mapping[Label, Mapping[int, int]],
    class_rows: Mapping[Label, int],
    table_rows: int,
    batch_size: int,
) -> dict[Label, BatchCounts]:
    """Each class's figures from Spark's histograms and the rows counted per class."""
    return {
        label: BatchCounts(label, batch_size, class_rows.get(label, 0), table_rows, histogram)
        for label, histogram in histograms.items()
    }


def unevenly_spread(batches: Mapping[Label, BatchCounts] | None) -> list[str]:
    """The classes (as text) whose batches in file order are clearly worse than random."""
    return [str(c.label) for c in (batches or {}).values() if c.worse_than_random]


@dataclass(frozen=True)
class OrderPlacement:
    """Where the batch-ready order puts the rows: sorted in the tasks that read them
    (``in_place``), or shuffled over ``tasks`` tasks (Spark's choice when None)."""

    in_place: bool
    tasks: int | None
    spread: TaskSpread | None

    @property
    def described(self) -> str:
        """What the order did, for the write's phase line.

        Example:
            >>> order_placement(TaskSpread(7, 2, 15.0), partitioned=False).described
            'ordered within the 7 tasks that read them (classes mixed across them: ...)'
            >>> order_placement(TaskSpread(1, 2, 0.0), partitioned=False).described
            'ordered within the one task that read them'
        """
        if self.in_place and self.spread is not None and self.spread.tasks == 1:
            return "ordered within the one task that read them"
        if self.in_place and self.spread is not None:
            return (
                f"ordered within the {self.spread.tasks} tasks that read them (classes mixed "
                f"across them: chi-square {self.spread.chi_square:.1f}, "
                f"{self.spread.degrees_of_freedom} degrees of freedom)"
            )
        return f"shuffled over {self.tasks} tasks" if self.tasks else "shuffled"


def order_placement(spread: TaskSpread | None, *, partitioned: bool) -> OrderPlacement:
    """Sorted in place when the profile found the classes already mixed across the tasks that
    read the rows (the sample and the weights keep those tasks); else shuffled over as many
    tasks as read them, or over Spark's choice when the profile did not count per task. A
    partitioned output is always shuffled: the profile did not count each partition.

    Example:
        >>> order_placement(TaskSpread(7, 2, 5_000.0), partitioned=False).described
        'shuffled over 7 tasks'
        >>> order_placement(None, partitioned=False).described
        'shuffled'
    """
    if spread is None:
        return OrderPlacement(in_place=False, tasks=None, spread=None)
    if partitioned or not spread.mixed:
        return OrderPlacement(in_place=False, tasks=spread.tasks, spread=spread)
    return OrderPlacement(in_place=True, tasks=None, spread=spread)


@dataclass(frozen=True)
class DataFile:
    """A data file a commit added: its name, its path, and its rows as the commit states
    them (None when the writer kept no statistics)."""

    name: str
    path: str
    rows: int | None


def file_offsets(files: Sequence[DataFile]) -> tuple[dict[str, int], int]:
    """Each file's first place in file order (files as listed, each of its stated rows), and
    the rows of all; for files that all state their rows.

    Example:
        >>> file_offsets([DataFile("a", "/t/a", 3), DataFile("b", "/t/b", 2)])
        ({'a': 0, 'b': 3}, 5)
    """
    offsets, place = {}, 0
    for data_file in files:
        assert data_file.rows is not None, "a file without stated rows has no offset"
        offsets[data_file.name] = place
        place += data_file.rows
    return offsets, place


@dataclass(frozen=True)
class Chunk:
    """Rows one Spark task read from one split of a data file: the file, the split's start
    byte, the task's id for the chunk's first row (ids of its rows run on by one) and its rows."""

    file_name: str
    start: int
    first_id: int
    rows: int


def chunk_shifts(
    chunks: Sequence[Chunk], file_order: Sequence[str]
) -> tuple[dict[Chunk, int], int]:
    """What to add to a row's id to get its place in file order (files in ``file_order``,
    each file's splits by their start), for each chunk of a listed file; and the rows of the
    listed files. Chunks of other files are left out.

    Example:
        >>> a, b = Chunk("f2", 0, 100, 3), Chunk("f1", 0, 7, 2)
        >>> shifts, rows = chunk_shifts([a, b], ["f1", "f2"])
        >>> shifts[b], shifts[a], rows  # f1's rows are places 0-1, f2's 2-4
        (-7, -98, 5)
    """
    rank = {name: index for index, name in enumerate(file_order)}
    listed = sorted(
        (c for c in chunks if c.file_name in rank), key=lambda c: (rank[c.file_name], c.start)
    )
    shifts, place = {}, 0
    for chunk in listed:
        shifts[chunk] = place - chunk.first_id
        place += chunk.rows
    return shifts, place


def _mean(histogram: Mapping[int, int]) -> float:
    batches = sum(histogram.values())
    return sum(k * n for k, n in histogram.items()) / batches if batches else 0.0
