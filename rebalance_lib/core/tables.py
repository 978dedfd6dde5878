"""A Delta table named once: by its path, or by its name in the session's catalog.

The doors take an output as one string, ``table:NAME`` for a catalog table and anything else
for a path; ``Table.parse`` reads that spelling once and the layers below are handed the
value. ``str`` gives the spelling back, for messages, lineage and the report.

>>> Table.parse("table:db.events").catalog_name, Table.parse("/data/events").path
('db.events', '/data/events')
>>> str(Table.parse("table:db.events"))
'table:db.events'
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_PREFIX = "table:"


@dataclass(frozen=True)
class Table:
    """A Delta table: ``where`` is its path, or its catalog name when ``in_catalog``."""

    where: str
    in_catalog: bool = False

    @classmethod
    def parse(cls, spelled: str) -> Table:
        """A path, or ``table:NAME`` for a table in the catalog."""
        if spelled.startswith(TABLE_PREFIX):
            return cls(spelled.removeprefix(TABLE_PREFIX), in_catalog=True)
        return cls(spelled)

    @property
    def catalog_name(self) -> str | None:
        """The catalog name of a table in the catalog, None for a path."""
        return self.where if self.in_catalog else None

    @property
    def path(self) -> str | None:
        """The path of a table at a path, None for one in the catalog."""
        return None if self.in_catalog else self.where

    def __str__(self) -> str:
        return TABLE_PREFIX + self.where if self.in_catalog else self.where
