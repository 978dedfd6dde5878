"""Per-batch figures and the order check, from histograms: pure Python."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalance_lib.core.batches import (
    BatchCounts,
    Chunk,
    DataFile,
    OrderPlacement,
    chunk_shifts,
    file_offsets,
    order_placement,
)
from rebalance_lib.core.counts import TaskSpread

BATCH = 128


def histogram_of(labels: list[int]) -> dict[int, int]:
    counts = [sum(labels[b * BATCH : (b + 1) * BATCH]) for b in range(len(labels) // BATCH)]
    histogram: dict[int, int] = {}
    for count in counts:
        histogram[count] = histogram.get(count, 0) + 1
    return histogram


def figures(labels: list[int]) -> BatchCounts:
    return BatchCounts(1, BATCH, sum(labels), len(labels), histogram_of(labels))


def test_figures_of_a_small_histogram() -> None:
    counts = BatchCounts(1, 4, class_rows=6, table_rows=16, histogram={0: 2, 1: 1, 5: 1})
    assert counts.batches == 4
    assert counts.mean == pytest.approx(1.5)
    assert counts.variance == pytest.approx((2 * 1.5**2 + 0.5**2 + 3.5**2) / 4)
    assert (counts.quantile(0.05), counts.quantile(0.5), counts.quantile(0.95)) == (0, 0, 5)
    assert counts.share_without == pytest.approx(0.5)
    assert counts.random_share_without == pytest.approx((1 - 6 / 16) ** 4)
    assert counts.random_variance == pytest.approx(4 * (6 / 16) * (10 / 16) * 12 / 15)


@pytest.mark.parametrize("seed", range(20))
def test_a_random_order_passes_the_check_and_runs_of_one_class_fail_it(seed: int) -> None:
    labels = [1] * 2_000 + [0] * 20_000
    assert figures(labels).worse_than_random  # the minority stored together
    random.Random(seed).shuffle(labels)
    shuffled = figures(labels)
    assert not shuffled.worse_than_random
    assert shuffled.mean == pytest.approx(BATCH * 2_000 / 22_000, rel=0.05)


def test_a_few_batches_are_not_judged() -> None:
    labels = [1] * 128 + [0] * 128 * 9
    assert figures(labels).batches == 10 and not figures(labels).worse_than_random


def test_chunks_are_placed_by_file_then_split_and_other_files_left_out() -> None:
    chunks = [
        Chunk("b", 1_000, 50, 4),
        Chunk("a", 0, 7, 2),
        Chunk("b", 0, 20, 3),
        Chunk("old", 0, 0, 9),  # a file of an earlier commit
    ]
    shifts, rows = chunk_shifts(chunks, ["a", "b"])
    assert rows == 9
    assert [(c.file_name, c.start, c.first_id + shift) for c, shift in shifts.items()] == [
        ("a", 0, 0),
        ("b", 0, 2),
        ("b", 1_000, 5),
    ]


def test_file_offsets_place_each_file_after_the_rows_of_those_before_it() -> None:
    files = [DataFile("b", "/t/b", 5), DataFile("a", "/t/day=1/a", 0), DataFile("c", "/t/c", 2)]
    assert file_offsets(files) == ({"b": 0, "a": 5, "c": 5}, 7)


def pearson_chi_square(table: list[list[int]]) -> float:
    """The textbook statistic of a (task x class) table, empty tasks and classes left out."""
    table = [row for row in table if sum(row)]
    total = sum(map(sum, table))
    class_rows = [sum(column) for column in zip(*table, strict=True)]
    return sum(
        (n - sum(row) * class_rows[c] / total) ** 2 / (sum(row) * class_rows[c] / total)
        for row in table
        for c, n in enumerate(row)
        if class_rows[c]
    )


def spread_of(table: list[list[int]]) -> TaskSpread:
    """What the profile hands over: per class, its rows and its sum over tasks of n²/N."""
    tasks = [row for row in table if sum(row)]
    classes = [c for c in range(len(table[0])) if any(row[c] for row in tasks)]
    share_squares = {c: sum(row[c] ** 2 / sum(row) for row in tasks) for c in classes}
    class_rows = {c: sum(row[c] for row in tasks) for c in classes}
    return TaskSpread.of(len(tasks), share_squares, class_rows)


def random_table(
    rng: random.Random, tasks: int, task_rows: int, shares: list[float]
) -> list[list[int]]:
    """Rows placed in tasks with no regard to their class."""
    table = []
    for _ in range(tasks):
        row = [0] * len(shares)
        for label in rng.choices(range(len(shares)), weights=shares, k=task_rows):
            row[label] += 1
        table.append(row)
    return table


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 5_000), min_size=3, max_size=3), min_size=1, max_size=12
    ).filter(lambda table: sum(map(sum, table)) > 0)
)
def test_the_task_spread_is_pearsons_chi_square_of_the_task_by_class_table(
    table: list[list[int]],
) -> None:
    assert spread_of(table).chi_square == pytest.approx(
        pearson_chi_square(table), rel=1e-9, abs=1e-6
    )


def test_rows_placed_at_random_are_mixed_and_classes_stored_apart_are_not() -> None:
    rng = random.Random(7)
    for tasks in (2, 8, 40):
        for _ in range(25):
            table = random_table(rng, tasks, 2_000, [0.97, 0.02, 0.01])
            assert spread_of(table).mixed, table
    # The minority stored in files of its own, after the majority's (a table sorted by label).
    sorted_by_label = [[2_000, 0], [2_000, 0], [1_600, 400], [0, 2_000]]
    assert not spread_of(sorted_by_label).mixed
    # Time-clustered: one task of eight holds twice the minority's share.
    drifting = [[1_960, 40]] * 7 + [[1_920, 80]]
    assert not spread_of(drifting).mixed
    # One task: its rows are all there is, so ordering them in place is a full shuffle.
    assert spread_of([[1_990, 10]]) == TaskSpread(1, 2, 0.0)
    assert spread_of([[1_990, 10]]).mixed


def test_the_order_sorts_in_place_only_where_the_classes_are_mixed_and_unpartitioned() -> None:
    mixed, clustered = TaskSpread(7, 2, 15.0), TaskSpread(7, 2, 5_000.0)
    assert order_placement(mixed, partitioned=False) == OrderPlacement(True, None, mixed)
    # Shuffled over as many tasks as read the rows: not adaptive execution's coalesced few.
    assert order_placement(clustered, partitioned=False) == OrderPlacement(False, 7, clustered)
    assert order_placement(mixed, partitioned=True) == OrderPlacement(False, 7, mixed)
    # No count per task (one pass, strata): Spark chooses.
    assert order_placement(None, partitioned=False) == OrderPlacement(False, None, None)
