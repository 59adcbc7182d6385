"""Any path segment and query string the API and pages may get: a 200 or a 4xx in Census's own
words naming the parameter, never a 5xx or a library's message (seeded random requests over the
HTTP layer and a fake store)."""

from __future__ import annotations

import datetime as dt
import random
import string
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from services.dashboard.app import create_app
from services.dashboard.config import DashboardSettings
from services.dashboard.rows import ActivityRow
from tests.support.dashboard import FakeStore

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
ROUTES = (
    "/api/v1/products/{p}/activity",
    "/api/v1/products/{p}/breakdown/{d}",
    "/api/v1/products/{p}/counts",
    "/api/v1/products/{p}/outcomes",
    "/api/v1/products/{p}/cohorts",
    "/api/v1/export/{p}/{d}",
    "/api/v1/{d}",
    "/products/{p}",
    "/products/{p}/{d}",
    "/{d}",
)
PARAMS = ("from", "to", "range", "day", "by", "event", "x")
GOOD = ("pulse", "proxmox-scripts", "version", "nsapp", "2026-11-20.csv", "2026-11-20", "7", "")
ALPHABET = string.printable + "äé€\u0000{}%/"


def _text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(GOOD)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))


async def test_never_a_server_error_or_a_foreign_message() -> None:
    rng = random.Random(20261120)
    store = FakeStore(activity_rows={"pulse": [ActivityRow(NOW.date(), 40, 60, 90, 6)]})
    app = create_app(DashboardSettings(), analyst_store=store, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        for _ in range(600):
            route = rng.choice(ROUTES)
            path = route.format(p=quote(_text(rng), safe=""), d=quote(_text(rng), safe=""))
            query = {rng.choice(PARAMS): _text(rng) for _ in range(rng.randint(0, 3))}
            url = f"{path}?{urlencode(query)}"
            method = rng.choice(("GET", "GET", "GET", "POST", "HEAD"))
            response = await client.request(method, url)
            assert response.status in {200, 400, 404, 405}, (method, url, response.status)
            if response.status >= 400 and method != "HEAD":
                body: Any = msgspec.json.decode(await response.read())
                assert set(body) == {"error", "parameter", "reason"}, (url, body)
