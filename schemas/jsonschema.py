"""JSON Schema of the wire contract, generated from the Structs (never written by hand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas.catalog import AttrSpec, Catalog, Catalogs
from schemas.ping import Ping

PING_SCHEMA_PATH: Final = Path(__file__).with_name("ping.schema.json")
REGENERATE: Final = "run python -m schemas.jsonschema"
"""The one command that rewrites PING_SCHEMA_PATH after a change to schemas/ping.py."""


def ping_json_schema() -> dict[str, Any]:
    return msgspec.json.schema(Ping)


def render() -> str:
    """The committed text of schemas/ping.schema.json."""
    return json.dumps(ping_json_schema(), indent=2, sort_keys=True) + "\n"


def _attr_schema(spec: AttrSpec) -> dict[str, Any]:
    if spec.type == "bool":
        return {"type": "boolean", "description": spec.purpose}
    if spec.type == "enum":
        return {"type": "string", "enum": list(spec.values), "description": spec.purpose}
    return {"type": "string", "maxLength": 64, "description": spec.purpose}


def product_ping_schema(catalog: Catalog, generic: dict[str, Any]) -> dict[str, Any]:
    """The ping of one product: its slug, its events, its declared attrs and counts and bounds.

    `generic` is the Ping schema msgspec generates. Undeclared attrs/counts keys stay allowed
    under the generic rules, because the gateway accepts and drops them rather than refusing.
    """
    properties = dict(generic["properties"])
    properties["product"] = {"type": "string", "const": catalog.product}
    properties["event"] = {"type": "string", "enum": list(catalog.events)}
    attrs = dict(properties["attrs"])
    attrs["properties"] = {name: _attr_schema(spec) for name, spec in catalog.attrs.items()}
    properties["attrs"] = attrs
    counts = dict(properties["counts"])
    counts["properties"] = {
        name: {"type": "integer", "minimum": 0, "maximum": spec.max, "description": spec.purpose}
        for name, spec in catalog.counts.items()
    }
    properties["counts"] = counts
    return {
        **generic,
        "title": f"{catalog.name} ping",
        "description": catalog.description,
        "properties": properties,
    }


def catalog_ping_schemas(catalogs: Catalogs) -> dict[str, dict[str, Any]]:
    """One schema per catalogued product, keyed `Ping_<product>`; a ping is one of them."""
    generic = ping_json_schema()
    (definition,) = generic["$defs"].values()
    return {
        f"Ping_{product.replace('-', '_')}": product_ping_schema(catalog, definition)
        for product, catalog in sorted(catalogs.by_product.items())
    }


def main(argv: list[str]) -> int:
    """`python -m schemas.jsonschema [--check]`: write schemas/ping.schema.json, or check it."""
    text = render()
    if argv == ["--check"]:
        if not PING_SCHEMA_PATH.exists() or PING_SCHEMA_PATH.read_text() != text:
            print(f"{PING_SCHEMA_PATH} is stale: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    PING_SCHEMA_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
