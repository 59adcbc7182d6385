"""Every dashboard page in a real browser (Debian's Chromium, driven by Playwright): charts and
tables rendered with data, no console error, no request leaving the host. Screenshots go to
.local/screenshots/ (gitignored)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from playwright.async_api import ConsoleMessage, Request, async_playwright

from services.migrate.migrations import discover
from services.migrate.runner import migrate
from tests.support.processes import ServiceProcess, free_port
from tests.support.rollups import simulated, write
from tests.support.stack import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / ".local" / "screenshots"
TODAY = dt.datetime.now(dt.UTC).date()
PRODUCTS = {"pulse": 150, "proxmox-scripts": 200, "flowfuse": 80, "novu": 60, "maestrohub": 60}


def test_the_system_browser_is_installed() -> None:
    """A missing browser fails the suite rather than skipping it (make prereqs installs it)."""
    assert CHROMIUM.exists(), "Debian's chromium package is missing: run deploy/local/prereqs.sh"


@pytest.fixture(scope="module")
async def dashboard(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn, discover(), today=TODAY)
    finally:
        await conn.close()
    await write(database, simulated(PRODUCTS, TODAY, 60), TODAY)
    port = free_port()
    service = ServiceProcess(
        ["dashboard"],
        {
            "CENSUS_PG_DSN": database.replace("://census@", "://census_analyst@"),
            "CENSUS_DASHBOARD_PORT": str(port),
            "CENSUS_DASHBOARD_OPS_PORT": str(free_port()),
        },
        0,
        tmp_path_factory.mktemp("dashboard") / "dashboard.log",
    )
    service.ops_port = int(service.env["CENSUS_DASHBOARD_OPS_PORT"])
    await service.start()
    try:
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{service.ops_port}"
    finally:
        await service.stop()


def pages() -> list[str]:
    paths = ["/", "/?range=7", "/?range=365"]
    for product in PRODUCTS:
        paths += [
            f"/products/{product}",
            f"/products/{product}/fields",
            f"/products/{product}/cohorts",
        ]
    return paths


async def test_ops_port_serves_the_gauges(dashboard: tuple[str, str]) -> None:
    _, ops = dashboard
    async with aiohttp.ClientSession() as session:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            async with session.get(f"{ops}/metrics") as response:
                text = await response.text()
            if 'census_dashboard_active_installs{product="pulse",window="1d"}' in text:
                break
            assert asyncio.get_running_loop().time() < deadline, text[-2000:]
            await asyncio.sleep(0.2)
        assert "census_dashboard_failure_ratio{" in text
        assert "census_dashboard_data_age_seconds " in text
        async with session.get(f"{ops}/readyz") as response:
            assert response.status == 200


async def test_every_page_renders_with_data_offline(dashboard: tuple[str, str]) -> None:
    dashboard_url, _ = dashboard
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    host = urlsplit(dashboard_url).netloc
    errors: list[str] = []
    foreign: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    errors.append(f"{page.url}: {message.text}")

            def on_request(request: Request) -> None:
                where = urlsplit(request.url)
                if where.scheme not in {"data", "about"} and where.netloc != host:
                    foreign.append(request.url)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
            page.on("request", on_request)
            for path in pages():
                response = await page.goto(dashboard_url + path, wait_until="load")
                assert response is not None and response.status == 200, path
                assert "data as of" in await page.locator("#freshness").inner_text()
                rows = await page.locator("table.data tbody tr:not(:has(td.nodata))").count()
                assert rows > 0, f"{path}: no table rows with data"
                if path.endswith(("/fields", "/cohorts")):
                    pass
                else:
                    lines = await page.locator("svg.chart path.series").count()
                    assert lines > 0, f"{path}: no chart with a data series"
                if "/products/" in path and not path.endswith(("/fields", "/cohorts")):
                    assert await page.locator("#breakdowns svg.chart path.series").count() >= 4, (
                        path
                    )
                name = (
                    path.strip("/").replace("/", "_").replace("?", "_").replace("=", "-")
                    or "overview"
                )
                await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            # The outcome table of the Proxmox scripts shows failure rates.
            await page.goto(dashboard_url + "/products/proxmox-scripts")
            assert "%" in await page.locator("#outcomes table").inner_text()
            # The custom range form works without JavaScript: submit it.
            await page.goto(dashboard_url + "/")
            start = (TODAY - dt.timedelta(days=20)).isoformat()
            await page.fill("input[name=from]", start)
            await page.click("button[type=submit]")
            assert f"from={start}" in page.url
            assert await page.locator("svg.chart path.series").count() > 0
        finally:
            await browser.close()
    assert errors == []
    assert foreign == []
    assert len(list(SHOTS.glob("*.png"))) == len(pages())
