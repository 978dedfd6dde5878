"""Validate OpenLineage events against the spec's JSON Schemas pinned in ``openlineage_spec/``
and rebalance's own facet against the schema the package ships."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

import rebalance_lib.runs

SPEC = Path(__file__).with_name("openlineage_spec")
FACET_SCHEMA_FILE = Path(rebalance_lib.runs.__file__).with_name("RebalanceRunFacet.json")
_SCHEMAS = [
    json.loads(path.read_text())
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]
] + [json.loads(FACET_SCHEMA_FILE.read_text())]
_REGISTRY: Registry = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in _SCHEMAS
)
_EVENT_SCHEMA = f"{_SCHEMAS[0]['$id']}#/$defs/RunEvent"
_FORMATS = FormatChecker()


def _validator(schema_url: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": schema_url}, registry=_REGISTRY, format_checker=_FORMATS)


def facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every facet of an event, with where it sits."""
    places = [("run", event["run"]), ("job", event["job"])]
    for kind in ("inputs", "outputs"):
        places += [(f"{kind}[{at}]", dataset) for at, dataset in enumerate(event.get(kind, []))]
    for place, holder in places:
        for group in ("facets", "inputFacets", "outputFacets"):
            for name, facet in (holder.get(group) or {}).items():
                yield f"{place}.{group}.{name}", facet


def validate_event(event: dict[str, Any]) -> None:
    """Raise when the event, or any of its facets, breaks its schema; a facet whose schema
    is not pinned here is an error too (it could not be checked)."""
    _validator(_EVENT_SCHEMA).validate(event)
    for place, facet in facets_of(event):
        base = facet["_schemaURL"].split("#", 1)[0]
        assert base in _REGISTRY, f"{place}: its schema {base} is not pinned in {SPEC.name}/"
        _validator(facet["_schemaURL"]).validate(facet)
