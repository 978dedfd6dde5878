"""The docs stay true to the code: every module on the architecture page, every page of the
site's navigation present, every link of the README pointing at a file (no JVM, no mkdocs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).parents[1]
DOCS = PROJECT / "docs"
ARCHITECTURE = DOCS / "architecture.md"


def package_modules() -> list[str]:
    """Every .py file of the package, as the architecture page names it: its path."""
    package = PROJECT / "rebalance_lib"
    return sorted(path.relative_to(PROJECT).as_posix() for path in package.rglob("*.py"))


def nav_pages(entry: Any) -> Iterator[str]:
    """The page files a mkdocs ``nav`` names, however deep its sections go."""
    if isinstance(entry, str):
        if not re.match(r"[a-z]+://", entry):  # an outside link is no page of ours
            yield entry
    elif isinstance(entry, list):
        for item in entry:
            yield from nav_pages(item)
    elif isinstance(entry, dict):
        for item in entry.values():
            yield from nav_pages(item)


def site_nav() -> list[str]:
    config = yaml.safe_load((PROJECT / "mkdocs.yml").read_text())
    return list(nav_pages(config["nav"]))


def test_every_module_of_the_package_is_on_the_architecture_page() -> None:
    page = ARCHITECTURE.read_text()
    modules = package_modules()
    assert len(modules) > 50, modules  # the package was found, not an empty folder
    missing = [module for module in modules if f"`{module}`" not in page]
    assert missing == [], (
        f"modules missing from {ARCHITECTURE.relative_to(PROJECT)}: {missing}; add a row "
        "to its table 'Every module': the path, the floor, what the module holds"
    )


def test_the_architecture_page_names_no_module_that_is_gone() -> None:
    named = set(re.findall(r"`(rebalance_lib/[\w/]+\.py)`", ARCHITECTURE.read_text()))
    assert named - set(package_modules()) == set()


def test_every_page_of_the_navigation_exists_and_every_page_is_in_it() -> None:
    pages = site_nav()
    assert "index.md" in pages and "architecture.md" in pages, pages
    assert [page for page in pages if not (DOCS / page).is_file()] == []
    on_disk = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert on_disk - set(pages) == set(), "pages missing from mkdocs.yml's nav"


def test_every_relative_link_of_the_readme_points_at_a_file() -> None:
    readme = (PROJECT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert relative, "the README links into docs/"
    assert [link for link in relative if not (PROJECT / link).exists()] == []
