"""The API's OpenAPI document is generated from the response Structs and the route table."""

from __future__ import annotations

import msgspec

from services.dashboard import api
from services.dashboard.app import create_app
from services.dashboard.config import DashboardSettings
from services.dashboard.openapi import ROUTES, document, openapi_bytes
from tests.support.dashboard import FakeStore


def test_components_are_the_structs_schemas() -> None:
    doc = document()
    _, expected = msgspec.json.schema_components(
        [r.response for r in ROUTES] + [api.Problem], ref_template="#/components/schemas/{name}"
    )
    assert doc["components"]["schemas"] == expected
    # A field added to a Struct appears without touching the document.
    assert "failure_ratio" in doc["components"]["schemas"]["OutcomeRow"]["properties"]
    assert set(doc["components"]["schemas"]["Activity"]["properties"]) >= {"from", "to", "days"}


def test_every_api_route_of_the_app_is_documented() -> None:
    app = create_app(DashboardSettings(), analyst_store=FakeStore())
    served = {
        r.resource.canonical
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
    } - {"/api/v1/openapi.json"}
    documented = set(document()["paths"])
    served = {p.replace("{file}", "{day}.json") for p in served}
    assert served <= documented
    assert "/api/v1/export/{product}/{day}.csv" in documented


def test_routes_required_by_the_api_contract() -> None:
    paths = set(document()["paths"])
    assert {
        "/api/v1/products",
        "/api/v1/products/{product}/activity",
        "/api/v1/products/{product}/breakdown/{dimension}",
        "/api/v1/products/{product}/counts",
        "/api/v1/products/{product}/outcomes",
    } <= paths


def test_document_is_valid_json() -> None:
    assert msgspec.json.decode(openapi_bytes())["openapi"].startswith("3.1")
