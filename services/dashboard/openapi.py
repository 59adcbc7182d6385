"""GET /api/v1/openapi.json: generated from the response Structs and the route table below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from services.dashboard import api

_REF: Final = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" or "query"
    description: str
    format: str | None = None
    required: bool = False


@dataclass(frozen=True)
class Route:
    path: str
    summary: str
    response: type[msgspec.Struct]
    params: tuple[Param, ...]
    csv: bool = False


_PRODUCT = Param("product", "path", "a product slug (GET /api/v1/products)", required=True)
_FROM = Param("from", "query", "first UTC day (default: `to` - range + 1)", "date")
_TO = Param("to", "query", "last UTC day (default today)", "date")
_RANGE = Param("range", "query", "days ending `to`, 7, 30, 90 or 365 (default 30), instead of from")

ROUTES: Final = (
    Route("/api/v1/products", "every product with its latest DAU / WAU / MAU", api.Products, ()),
    Route(
        "/api/v1/products/{product}/activity",
        "DAU, WAU, MAU and new installs per day",
        api.Activity,
        (_PRODUCT, _FROM, _TO, _RANGE),
    ),
    Route(
        "/api/v1/products/{product}/breakdown/{dimension}",
        "active installs per value of version, platform, os, arch or a declared attr, per day",
        api.Breakdown,
        (
            _PRODUCT,
            Param(
                "dimension", "path", "version, platform, os, arch or a declared attr", required=True
            ),
            _FROM,
            _TO,
            _RANGE,
        ),
    ),
    Route(
        "/api/v1/products/{product}/counts",
        "per declared count: installs, sum, min, max, p50/p90/p99 and a histogram",
        api.Counts,
        (_PRODUCT, Param("day", "query", "UTC day (default today)", "date")),
    ),
    Route(
        "/api/v1/products/{product}/outcomes",
        "runs, failures and failure rate per value of a dimension, and per day",
        api.Outcomes,
        (
            _PRODUCT,
            _FROM,
            _TO,
            _RANGE,
            Param("by", "query", "a declared dimension attr (default: the first)"),
            Param(
                "event",
                "query",
                "the product's run event, the only one counted (proxmox-scripts: install); "
                "other products publish no outcomes (404)",
            ),
        ),
    ),
    Route(
        "/api/v1/products/{product}/cohorts",
        "weekly cohorts: installs first seen in a week still active 1..12 weeks later",
        api.Cohorts,
        (_PRODUCT,),
    ),
    Route(
        "/api/v1/export/{product}/{day}.json",
        "every number the day publishes (also as .csv)",
        api.DayExport,
        (_PRODUCT, Param("day", "path", "UTC day", "date", required=True)),
        csv=True,
    ),
)


def _parameter(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if p.format:
        schema["format"] = p.format
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required,
        "description": p.description,
        "schema": schema,
    }


def document() -> dict[str, Any]:
    types = [route.response for route in ROUTES] + [api.Problem]
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    paths: dict[str, Any] = {}
    problem = {"content": {"application/json": {"schema": {"$ref": _REF.format(name="Problem")}}}}
    for route in ROUTES:
        content: dict[str, Any] = {
            "application/json": {"schema": {"$ref": _REF.format(name=route.response.__name__)}}
        }
        paths[route.path] = {
            "get": {
                "summary": route.summary,
                "parameters": [_parameter(p) for p in route.params],
                "responses": {
                    "200": {
                        "description": "published numbers; null where fewer than k installs stand behind one",
                        "headers": {
                            "ETag": {"schema": {"type": "string"}},
                            "Cache-Control": {"schema": {"type": "string"}},
                        },
                        "content": content,
                    },
                    "304": {"description": "not modified (If-None-Match)"},
                    "400": {"description": "a bad parameter, named in `parameter`", **problem},
                    "404": {"description": "unknown product or dimension", **problem},
                    "503": {"description": "PostgreSQL cannot answer now", **problem},
                },
            }
        }
        if route.csv:
            csv_path = route.path.removesuffix(".json") + ".csv"
            paths[csv_path] = {
                "get": {
                    "summary": route.summary.replace("(also as .csv)", "as CSV"),
                    "parameters": [_parameter(p) for p in route.params],
                    "responses": {
                        "200": {
                            "description": "columns table, subject, value, metric, number",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        "400": {"description": "a bad parameter", **problem},
                        "404": {"description": "unknown product", **problem},
                    },
                }
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Census dashboard API",
            "version": "1",
            "description": "Read-only, published aggregates. No number is backed by fewer than "
            "k installs (CENSUS_DASHBOARD_MIN_INSTALLS): smaller groups fold into `other`, or the "
            "number is null.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }


def openapi_bytes() -> bytes:
    return msgspec.json.encode(document())
