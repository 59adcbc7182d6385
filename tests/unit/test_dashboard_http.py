"""The dashboard's HTTP layer over a fake store: parameters, caching, errors, suppression."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.dashboard.app import create_app
from services.dashboard.config import DashboardSettings
from services.dashboard.rows import ActiveRow, ActivityRow, OutcomeEvents
from tests.support.dashboard import FakeStore

TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def fleet_store() -> FakeStore:
    days = [TODAY - dt.timedelta(days=i) for i in range(10)]
    return FakeStore(
        activity_rows={
            "pulse": [ActivityRow(d, 40, 60, 90, 6) for d in days],
            "novu": [ActivityRow(TODAY, 4, 4, 4, 4)],
        },
        active_rows={
            "pulse": [
                ActiveRow(TODAY, "5.1", "docker", "linux", "amd64", 30),
                ActiveRow(TODAY, "4.0", "docker", "linux", "amd64", 6),
                ActiveRow(TODAY, "3.0", "docker", "linux", "amd64", 4),
            ]
        },
        outcome_rows={
            "proxmox-scripts": [
                OutcomeEvents(TODAY, "nginx", "success", "", 30),
                OutcomeEvents(TODAY, "nginx", "failed", "network", 10),
            ]
        },
    )


@pytest.fixture
def store() -> FakeStore:
    return fleet_store()


@pytest.fixture
async def client(store: FakeStore) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(DashboardSettings(), analyst_store=store, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("/api/v1/products/nope/activity", 404, "product"),
        ("/api/v1/products/pulse/activity?from=2026-02-30", 400, "from"),
        ("/api/v1/products/pulse/activity?to=2026-11-21", 400, "to"),
        ("/api/v1/products/pulse/activity?range=5", 400, "range"),
        ("/api/v1/products/pulse/breakdown/install_id", 404, "dimension"),
        ("/api/v1/products/pulse/counts?day=soon", 400, "day"),
        ("/api/v1/products/proxmox-scripts/outcomes?by=cpu_model", 400, "by"),
        ("/api/v1/products/proxmox-scripts/outcomes?event=progress", 400, "event"),
        ("/api/v1/products/pulse/outcomes", 404, "product"),
        ("/api/v1/export/pulse/2026-11-20.xml", 404, "day"),
        ("/api/v1/export/pulse/2026-11-32.csv", 400, "day"),
    ],
)
async def test_bad_parameters_get_a_4xx_naming_them(
    client: TestClient[Any, Any], path: str, status: int, parameter: str
) -> None:
    response = await client.get(path)
    assert response.status == status
    body = await response.json()
    assert body["error"] == "bad_parameter"
    assert body["parameter"] == parameter


async def test_answers_carry_etag_and_cache_control_and_answer_304(
    client: TestClient[Any, Any],
) -> None:
    first = await client.get("/api/v1/products/pulse/activity?range=7")
    assert first.status == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=30"
    again = await client.get(
        "/api/v1/products/pulse/activity?range=7", headers={"If-None-Match": etag}
    )
    assert again.status == 304
    assert again.headers["ETag"] == etag


async def test_a_cached_answer_does_not_query_again(
    client: TestClient[Any, Any], store: FakeStore
) -> None:
    await client.get("/api/v1/products/pulse/activity?range=30")
    calls = store.calls
    await client.get("/api/v1/products/pulse/activity?range=30")
    assert store.calls == calls


async def test_database_down_is_a_503_in_census_words(
    client: TestClient[Any, Any], store: FakeStore
) -> None:
    store.down = True
    response = await client.get("/api/v1/products/pulse/activity?range=90")
    assert response.status == 503
    body = await response.json()
    assert body["reason"] == "the database cannot answer now; retry later"
    assert "Connection" not in body["reason"]


async def test_small_groups_are_suppressed_over_http(client: TestClient[Any, Any]) -> None:
    products = msgspec.json.decode(await (await client.get("/api/v1/products")).read())
    novu = next(p for p in products["products"] if p["product"] == "novu")
    assert novu["dau"] is None  # 4 installs < k = 5
    version = await (await client.get("/api/v1/products/pulse/breakdown/version?range=7")).json()
    today = version["days"][-1]
    # 3.0 (4 installs) folds into other; other = 4 would then be total - 5.1 - 4.0, so 4.0
    # (6) joins it.
    assert today["cells"] == [{"value": "5.1", "installs": 30, "share": 0.75}]
    assert (today["other"], today["total"]) == (10, 40)


async def test_outcomes_and_export(client: TestClient[Any, Any]) -> None:
    out = await (await client.get("/api/v1/products/proxmox-scripts/outcomes?range=7")).json()
    assert out["event"] == "install" and out["by"] == "nsapp"
    (row,) = out["rows"]
    assert row["runs"] == 40 and row["failed"] == 10 and row["failure_ratio"] == 0.25
    csv = await client.get("/api/v1/export/proxmox-scripts/2026-11-20.csv")
    assert csv.content_type == "text/csv"
    text = await csv.text()
    assert text.splitlines()[0] == "table,subject,value,metric,number"
    assert "outcome,nsapp,nginx,failure_ratio,0.25" in text


async def test_pages_render_and_load_nothing_from_other_hosts(
    client: TestClient[Any, Any],
) -> None:
    for path in ("/", "/products/pulse", "/products/proxmox-scripts", "/products/pulse/fields",
                 "/products/pulse/cohorts"):  # fmt: skip
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert "data as of" in html
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in html
        assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    page = await (await client.get("/products/pulse?range=7")).text()
    assert '<svg class="chart"' in page


async def test_openapi_is_served(client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/products/{product}/outcomes" in doc["paths"]


async def test_pages_show_the_latest_day_with_active_installs() -> None:
    """Today's row exists (yesterday's windows reach into it) with DAU 0 until the first ping:
    the headline, adoption and counts are of yesterday then, not of an empty today."""
    yesterday = TODAY - dt.timedelta(days=1)
    store = FakeStore(
        activity_rows={
            "flowfuse": [ActivityRow(yesterday, 40, 60, 90, 6), ActivityRow(TODAY, 0, 60, 90, 0)]
        }
    )
    app = create_app(DashboardSettings(), analyst_store=store, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get("/products/flowfuse?range=7")).text()
        assert f"Feature adoption ({yesterday.isoformat()})" in page
        products = await (await client.get("/api/v1/products")).json()
        flowfuse = next(p for p in products["products"] if p["product"] == "flowfuse")
        assert (flowfuse["day"], flowfuse["dau"]) == (yesterday.isoformat(), 40)
