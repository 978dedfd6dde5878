"""Per-batch figures and the order check, from histograms: pure Python."""

from __future__ import annotations

import random

import pytest

from rebalance_lib.core.batches import BatchCounts, Chunk, DataFile, chunk_shifts, file_offsets

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
