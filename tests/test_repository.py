"""The repository holds code and docs: generated tables and other data stay out of git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).parents[1]
DATA_SUFFIXES = {".parquet", ".orc", ".avro", ".crc", ".csv", ".jsonl", ".zip", ".whl", ".jar"}


def git(*args: str) -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(PROJECT), *args], capture_output=True, text=True, check=True
    )
    return listed.stdout.splitlines()


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    inside = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.stdout.strip() != "true":
        pytest.skip("not a git checkout: nothing is tracked")
    return git("ls-files")


def test_no_data_file_is_tracked(tracked: list[str]) -> None:
    data = [
        path
        for path in tracked
        if Path(path).suffix in DATA_SUFFIXES or "_delta_log/" in path or "/part-" in path
    ]
    assert data == [], f"data files are tracked: {data[:5]}; git rm --cached them"


def test_nothing_tracked_is_ignored(tracked: list[str]) -> None:
    ignored = git("ls-files", "--cached", "--ignored", "--exclude-standard")
    assert ignored == [], f"tracked although .gitignore lists them: {ignored[:5]}"
