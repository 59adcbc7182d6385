"""GET /openapi.json: generated from the msgspec Structs and the DESIGN §3 status table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from schemas.catalog import Catalogs
from schemas.jsonschema import catalog_ping_schemas
from schemas.ping import Ping
from services.ingest.compat.registry import CompatRoute
from services.ingest.replies import Accepted, Error

_REF: Final = "#/components/schemas/{name}"

# (status, description, body schema name, extra headers)
_STATUS_TABLE: Final = [
    ("202", "accepted: Kafka acknowledged every ping of the request", "Accepted", ()),
    ("400", "not JSON or not UTF-8; `reason` gives the position", "Error", ()),
    ("408", "the body did not arrive within the body timeout", "Error", ()),
    (
        "413",
        "body, decompressed body or batch count over the limit, named in `reason`",
        "Error",
        (),
    ),
    (
        "415",
        "content type not application/json (or application/x-ndjson for /v1/batch), or an encoding other than gzip",
        "Error",
        (),
    ),
    (
        "422",
        "wrong type, missing field, out of range, unknown product or event: `path` and `reason` name it",
        "Error",
        (),
    ),
    ("429", "rate limited; retry after `Retry-After` seconds", "Error", ("Retry-After",)),
    (
        "503",
        "Kafka unavailable or the producer is busy; nothing was acknowledged",
        "Error",
        ("Retry-After",),
    ),
]


def _responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, description, schema, headers in _STATUS_TABLE:
        entry: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(name=schema)}}},
        }
        if headers:
            entry["headers"] = {
                name: {"schema": {"type": "integer"}, "description": "seconds"} for name in headers
            }
        responses[status] = entry
    return responses


_TOLERATED: Final = "optional: a value of another shape is dropped and listed, never refused"


def _tolerant(components: dict[str, Any]) -> dict[str, Any]:
    """A compat body's schemas as the gateway reads them (DESIGN §3): a required field must have
    its shape; an optional one may hold anything (a wrong value costs that field, not the ping),
    so its documented shape is kept beside an `{}` that admits every value."""
    out: dict[str, Any] = {}
    for name, schema in components.items():
        required = set(schema.get("required", ()))
        properties = schema.get("properties")
        if properties:
            schema = {
                **schema,
                "properties": {
                    key: value
                    if key in required
                    else {"anyOf": [value, {}], "description": _TOLERATED}
                    for key, value in properties.items()
                },
            }
        out[name] = schema
    return out


def _compat_paths(routes: Sequence[CompatRoute], components: dict[str, Any]) -> dict[str, Any]:
    """The product's own body; responses exactly as /v1/ping's."""
    paths: dict[str, Any] = {}
    for route in routes:
        (schema,), own = msgspec.json.schema_components([route.body], ref_template=_REF)
        components.update(_tolerant(own))
        mapping = route.mapping
        paths[route.path] = {
            "post": {
                "summary": f"{mapping.title}'s own ping body, mapped to `{mapping.product}` pings",
                "description": f"Body as {mapping.source} sends it. Unknown fields are ignored "
                "and listed in `dropped_fields`; identifying fields are dropped on arrival "
                "(docs/fields.md lists the fate of every field). Status rules as /v1/ping.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": _responses(),
            }
        }
    return paths


def build_openapi(
    *, max_batch: int, compat: Sequence[CompatRoute] = (), catalogs: Catalogs | None = None
) -> dict[str, Any]:
    """The spec; with `catalogs`, a ping is one of the catalogued products' pings, each with its
    events, attrs and bounds, so a generated valid body is one the gateway accepts."""
    (ping_schema,), components = msgspec.json.schema_components([Ping], ref_template=_REF)
    if catalogs is not None:
        products = catalog_ping_schemas(catalogs)
        components.update(products)
        ping_schema = {"oneOf": [{"$ref": _REF.format(name=name)} for name in products]}
    _, reply_components = msgspec.json.schema_components([Accepted, Error], ref_template=_REF)
    components.update(reply_components)
    compat_paths = _compat_paths(compat, components)
    # No maxItems: a batch over the limit is a 413 (a size limit), not a schema violation.
    batch_schema = {"type": "array", "items": ping_schema, "minItems": 1}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Census ingest",
            "version": "1",
            "description": "Anonymous phone-home pings. Undeclared attrs/counts keys are dropped "
            "and listed in `dropped_fields`; unknown top-level fields are ignored. Every POST "
            "accepts `Content-Encoding: gzip` (the decompressed size is limited too).",
        },
        "paths": {
            "/v1/ping": {
                "post": {
                    "summary": "one ping",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ping_schema}},
                    },
                    "responses": _responses(),
                }
            },
            "/v1/batch": {
                "post": {
                    "summary": f"up to {max_batch} pings, all or nothing",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": batch_schema},
                            "application/x-ndjson": {
                                "schema": {"type": "string", "description": "one ping per line"}
                            },
                        },
                    },
                    "responses": _responses(),
                }
            },
            **compat_paths,
        },
        "components": {"schemas": components},
    }


def openapi_bytes(
    *, max_batch: int, compat: Sequence[CompatRoute] = (), catalogs: Catalogs | None = None
) -> bytes:
    return msgspec.json.encode(build_openapi(max_batch=max_batch, compat=compat, catalogs=catalogs))
