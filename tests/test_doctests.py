"""The examples in the pure core's docstrings run, and give what they show (no JVM)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rebalance_lib.core

CORE_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(rebalance_lib.core.__path__, "rebalance_lib.core.")
)
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_examples(module_name: str) -> tuple[doctest.TestResults, str]:
    """Every docstring example of the module, run; the results and what the runner said."""
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    said: list[str] = []
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=said.append)
    return runner.summarize(verbose=False), "".join(said)


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_the_examples_of_a_core_module_give_what_they_show(module_name: str) -> None:
    results, said = run_examples(module_name)
    assert results.failed == 0, f"{module_name}: {results.failed} example(s) failed\n{said}"


def test_the_core_has_examples_to_run() -> None:
    attempted = sum(run_examples(name)[0].attempted for name in CORE_MODULES)
    assert attempted >= 20, f"only {attempted} examples in the core's docstrings"
