"""The dashboard's numbers equal the analyst views for a known fleet (real PostgreSQL, read as
census_analyst through the real pool), and suppression holds at the boundary: k - 1 vs k."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.common.settings import PostgresSettings
from services.dashboard.app import create_app
from services.dashboard.config import DashboardSettings
from services.migrate.migrations import discover
from services.migrate.runner import migrate
from tests.support.rollups import Install, install, write

K = 5
TODAY = dt.datetime.now(dt.UTC).date()
DAYS = [TODAY - dt.timedelta(days=i) for i in range(3)]


def analyst(dsn: str) -> str:
    return dsn.replace("://census@", "://census_analyst@")


def known_fleet() -> list[Install]:
    every = set(DAYS)
    fleet: list[Install] = []
    # pulse: 20 on 5.1, 12 on 5.0, 8 on 4.9, every day; half of 5.1 have ai_enabled.
    for version, n in (("5.1", 20), ("5.0", 12), ("4.9", 8)):
        for j in range(n):
            i = install("pulse", every, version=version)
            i.attrs = {"ai_enabled": "true" if version == "5.1" and j % 2 == 0 else "false"}
            i.counts = {"configured_connections": 2 ** (j % 3)}
            fleet.append(i)
    # flowfuse: exactly k installs on "2.0" and k - 1 on "1.0", today only.
    fleet += [install("flowfuse", {TODAY}, version="2.0") for _ in range(K)]
    fleet += [install("flowfuse", {TODAY}, version="1.0") for _ in range(K - 1)]
    # novu: k - 1 installs in all; maestrohub: exactly k.
    fleet += [install("novu", {TODAY}) for _ in range(K - 1)]
    fleet += [install("maestrohub", {TODAY}) for _ in range(K)]
    # proxmox-scripts: nginx 30 runs (10 failed: network), jellyfin 9 runs (4 failed).
    for app, runs, failed in (("nginx", 30, 10), ("jellyfin", 9, 4)):
        for j in range(runs):
            status = "failed" if j < failed else "success"
            dims = {"nsapp": app, "type": "lxc", "status": status}
            if status == "failed":
                dims["error_category"] = "network"
            i = install("proxmox-scripts", {TODAY})
            i.attrs = dict(dims)
            i.events = [("install", dims)]
            fleet.append(i)
    return fleet


@pytest.fixture(scope="module")
async def dashboard(database: str) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn, discover(), today=TODAY)
    finally:
        await conn.close()
    await write(database, known_fleet(), TODAY)
    settings = DashboardSettings(pg=PostgresSettings(dsn=analyst(database)), min_installs=K)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client, analyst(database)


async def view(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def get(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_activity_equals_the_views(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, dsn = dashboard
    body = await get(client, "/api/v1/products/pulse/activity?range=7")
    rows = await view(
        dsn,
        """SELECT a.day, a.dau, a.wau, a.mau, coalesce(n.installs, 0) AS new FROM dau_wau_mau a
           LEFT JOIN new_installs_daily n USING (day, product) WHERE product = 'pulse' ORDER BY day""",
    )
    assert [(d["day"], d["dau"], d["wau"], d["mau"]) for d in body["days"]] == [
        (r["day"].isoformat(), r["dau"], r["wau"], r["mau"]) for r in rows
    ]
    assert [d["dau"] for d in body["days"]] == [40, 40, 40]


async def test_breakdown_equals_the_view(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, dsn = dashboard
    body = await get(client, "/api/v1/products/pulse/breakdown/version?range=7")
    rows = await view(
        dsn,
        """SELECT version, sum(installs)::int AS n FROM active_installs_daily
           WHERE product = 'pulse' AND day = $1 GROUP BY 1 ORDER BY 2 DESC""",
        TODAY,
    )
    today = body["days"][-1]
    assert [(c["value"], c["installs"]) for c in today["cells"]] == [
        (r["version"], r["n"]) for r in rows
    ]
    assert today["other"] == 0 and today["total"] == 40


async def test_adoption_equals_the_view(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, dsn = dashboard
    body = await get(client, "/api/v1/products/pulse/breakdown/ai_enabled?range=7")
    rows = await view(
        dsn,
        "SELECT value, installs, share FROM feature_adoption WHERE product = 'pulse' AND day = $1 "
        "AND attr = 'ai_enabled' ORDER BY installs DESC",
        TODAY,
    )
    cells = body["days"][-1]["cells"]
    assert [(c["value"], c["installs"]) for c in cells] == [
        (r["value"], r["installs"]) for r in rows
    ]
    assert [c["share"] for c in cells] == pytest.approx([float(r["share"]) for r in rows])


async def test_counts_equal_the_view(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, dsn = dashboard
    body = await get(client, f"/api/v1/products/pulse/counts?day={TODAY.isoformat()}")
    (row,) = await view(
        dsn,
        "SELECT * FROM count_distributions WHERE product = 'pulse' AND day = $1 "
        "AND count_key = 'configured_connections'",
        TODAY,
    )
    stat = next(c for c in body["counts"] if c["key"] == "configured_connections")
    for name in ("installs", "min", "max"):
        assert stat[name] == row[name], name
    assert stat["sum"] == int(row["sum"])
    for name in ("p50", "p90", "p99"):  # every histogram bucket holds >= k: nothing merged
        assert stat[name] == pytest.approx(row[name]), name


async def test_outcomes_equal_the_view(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, dsn = dashboard
    body = await get(client, "/api/v1/products/proxmox-scripts/outcomes?range=7")
    rows = await view(
        dsn,
        """SELECT dimensions ->> 'nsapp' AS app, sum(events)::int AS runs,
                  sum(events) FILTER (WHERE dimensions ->> 'status' = 'failed')::int AS failed
             FROM event_outcomes WHERE product = 'proxmox-scripts' AND event = 'install'
            GROUP BY 1 ORDER BY 2 DESC""",
    )
    by_app = {r["value"]: r for r in body["rows"]}
    nginx = next(r for r in rows if r["app"] == "nginx")
    assert by_app["nginx"]["runs"] == nginx["runs"] == 30
    assert by_app["nginx"]["failed"] == nginx["failed"] == 10
    assert by_app["nginx"]["failure_ratio"] == pytest.approx(1 / 3)
    # jellyfin: 9 runs (>= k, shown) but under the 10-run minimum: no failure rate; its 4
    # failures are fewer than k, so the failure count is hidden too.
    assert by_app["jellyfin"]["runs"] == 9
    assert by_app["jellyfin"]["failed"] is None and by_app["jellyfin"]["failure_ratio"] is None


async def test_boundary_k_minus_one_is_hidden_k_is_shown(
    dashboard: tuple[TestClient[Any, Any], str],
) -> None:
    client, _ = dashboard
    products = {p["product"]: p for p in (await get(client, "/api/v1/products"))["products"]}
    assert products["novu"]["dau"] is None  # k - 1 installs
    assert products["maestrohub"]["dau"] == K  # k installs
    flow = await get(client, "/api/v1/products/flowfuse/breakdown/version?range=7")
    today = flow["days"][-1]
    assert [(c["value"], c["installs"]) for c in today["cells"]] == []
    # 2.0 holds k, 1.0 holds k - 1: 1.0 folds into other, and other = k - 1 would reveal it by
    # subtraction, so 2.0 folds too; only the total (2k - 1 >= k) is shown.
    assert (today["total"], today["other"]) == (2 * K - 1, 2 * K - 1)
    novu = await get(client, "/api/v1/products/novu/breakdown/version?range=7")
    assert novu["days"][-1]["total"] is None


async def test_export_has_no_number_under_k(dashboard: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = dashboard
    for product in ("pulse", "flowfuse", "novu", "maestrohub", "proxmox-scripts"):
        body = await get(client, f"/api/v1/export/{product}/{TODAY.isoformat()}.json")
        for row in body["rows"]:
            if row["metric"] in {"installs", "dau", "wau", "mau", "new", "runs", "failed"}:
                assert row["number"] == 0 or row["number"] >= K, row


async def test_the_role_cannot_read_install_rows(
    dashboard: tuple[TestClient[Any, Any], str],
) -> None:
    _, dsn = dashboard
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await view(dsn, "SELECT install_id FROM install_days LIMIT 1")
    assert await view(dsn, "SELECT * FROM cohort_weeks LIMIT 1")


async def test_a_query_past_the_statement_timeout_is_a_503(
    dashboard: tuple[TestClient[Any, Any], str], database: str
) -> None:
    """A writer holding the table (here: an exclusive lock) cannot make a page hang: the
    statement timeout ends the query and the client gets Census's 503."""
    settings = DashboardSettings(
        pg=PostgresSettings(dsn=analyst(database)), min_installs=K, statement_timeout_ms=300
    )
    locker = await asyncpg.connect(database)
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            tx = locker.transaction()
            await tx.start()
            await locker.execute("LOCK TABLE rollup_activity IN ACCESS EXCLUSIVE MODE")
            started = asyncio.get_running_loop().time()
            response = await client.get("/api/v1/products/novu/activity?range=7")
            elapsed = asyncio.get_running_loop().time() - started
            await tx.rollback()
            assert response.status == 503
            assert (await response.json())[
                "reason"
            ] == "the database cannot answer now; retry later"
            assert elapsed < 5
            again = await client.get("/api/v1/products/novu/activity?range=30")
            assert again.status == 200
    finally:
        await locker.close()
