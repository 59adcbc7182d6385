"""`census dashboard`: the read side, pages and /api/v1/ on 8081, ops on 9104."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from prometheus_client import CollectorRegistry

from services.common.httpserver import CensusAppRunner
from services.common.lifecycle import run_service, wait_or_stop
from services.common.logs import configure_logging
from services.common.ops import OpsServer
from services.common.settings import SettingsError, command_parser, load, warn_unknown_variables
from services.dashboard.app import create_app, readiness, refusal_body
from services.dashboard.config import DashboardSettings
from services.dashboard.metrics import DashboardMetrics, collect
from services.dashboard.reader import Reader
from services.dashboard.store import StoreUnavailable

log = logging.getLogger(__name__)


async def refresh_gauges(
    reader: Reader, metrics: DashboardMetrics, settings: DashboardSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await reader.refresh_freshness()
            metrics.update(await collect(reader, settings.metrics_top))
        except StoreUnavailable as exc:
            metrics.refresh_failures.inc()
            log.warning("gauges not refreshed: PostgreSQL unavailable (%s)", exc)
        if await wait_or_stop(stop, settings.metrics_interval_s):
            return


async def serve(settings: DashboardSettings, stop: asyncio.Event) -> int:
    registry = CollectorRegistry()
    metrics = DashboardMetrics(registry)
    readers: list[Reader] = []
    app = create_app(settings, on_reader=readers.append)
    runner = CensusAppRunner(
        app,
        refusal_body=refusal_body,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        async with OpsServer(
            host=settings.ops.host,
            port=settings.ops_port,
            registry=registry,
            readiness=lambda: readiness(app),
        ):
            log.info("dashboard on http://%s:%s/", settings.host, settings.port)
            gauges = asyncio.create_task(refresh_gauges(readers[0], metrics, settings, stop))
            await stop.wait()
            await gauges
    finally:
        await runner.cleanup()
    log.info("dashboard stopped")
    return 0


def main(argv: list[str]) -> int:
    parser = command_parser(
        "census dashboard",
        "Serve the read side: pages, /api/v1/ and public datasets over the analyst views, as "
        "census_analyst, with no number backed by fewer than CENSUS_DASHBOARD_MIN_INSTALLS installs.",
        DashboardSettings,
    )
    parser.parse_args(argv)
    try:
        settings = load(DashboardSettings)
    except SettingsError as exc:
        print(f"census dashboard: {exc}", file=sys.stderr)
        return 2
    configure_logging("dashboard", settings.log)
    warn_unknown_variables(DashboardSettings, "CENSUS_DASHBOARD_", log)
    return run_service(lambda stop: serve(settings, stop), serves_http=True)
