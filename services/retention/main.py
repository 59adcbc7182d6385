"""`census retention`: partition maintenance and the purge, hourly or once (`--once`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys

import asyncpg
from prometheus_client import CollectorRegistry

from services.common.lifecycle import run_service, wait_or_stop
from services.common.logs import configure_logging
from services.common.ops import OpsServer
from services.common.settings import (
    SettingsError,
    command_parser,
    load,
    warn_unknown_variables,
)
from services.retention.config import RetentionSettings
from services.retention.health import PostgresProbe
from services.retention.metrics import RetentionMetrics
from services.retention.plan import Clock, Horizons
from services.retention.store import PgRetentionStore
from services.retention.worker import PassOptions, PassReport, RetentionPass, dry_run

log = logging.getLogger(__name__)

_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pass_options(settings: RetentionSettings) -> PassOptions:
    return PassOptions(
        horizons=Horizons(settings.install_days, settings.rollup_days),
        ahead_days=settings.ahead_days,
        step_attempts=settings.step_attempts,
        retry_backoff_s=settings.retry_backoff_s,
        delete_batch=settings.delete_batch,
    )


async def _connect(settings: RetentionSettings, *, read_only: bool = False) -> asyncpg.Connection:
    server_settings = {"application_name": "census-retention"}
    if read_only:
        server_settings["default_transaction_read_only"] = "on"
    return await asyncpg.connect(
        settings.pg.dsn, timeout=settings.pg.connect_timeout_s, server_settings=server_settings
    )


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except (TimeoutError, OSError, asyncpg.InterfaceError):
        conn.terminate()


async def one_pass(
    settings: RetentionSettings, metrics: RetentionMetrics, clock: Clock, stop: asyncio.Event
) -> PassReport:
    """Connect, run a pass, disconnect; a failure is counted and reported, never raised."""
    try:
        conn = await _connect(settings)
    except _CONNECT_ERRORS as exc:
        log.error("retention pass failed: cannot reach PostgreSQL: %s", type(exc).__name__)
        metrics.failures.labels("connect").inc()
        return PassReport(failures=[f"connect: {type(exc).__name__}"])
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=settings.lock_timeout_ms)
        return await RetentionPass(store, pass_options(settings), metrics, clock, stop).run()
    finally:
        await _close(conn)


async def print_dry_run(settings: RetentionSettings, clock: Clock) -> int:
    """Print what a pass would do, in a read-only session."""
    try:
        conn = await _connect(settings, read_only=True)
    except _CONNECT_ERRORS as exc:
        log.error("cannot reach PostgreSQL at the configured CENSUS_PG_DSN: %s", exc)
        return 1
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=settings.lock_timeout_ms)
        text = await dry_run(store, pass_options(settings), clock)
    finally:
        await _close(conn)
    print(text)
    return 0


async def serve(
    settings: RetentionSettings,
    stop: asyncio.Event,
    *,
    once: bool,
    clock: Clock = utc_now,
    registry: CollectorRegistry | None = None,
) -> int:
    """Passes every CENSUS_RETENTION_INTERVAL_S until `stop`, or one pass with `once`."""
    registry = CollectorRegistry() if registry is None else registry
    metrics = RetentionMetrics(registry)
    if once:
        report = await one_pass(settings, metrics, clock, stop)
        return 0 if report.ok else 1
    async with (
        PostgresProbe(settings.pg.dsn, timeout_s=settings.pg.connect_timeout_s) as probe,
        OpsServer(
            host=settings.ops.host,
            port=settings.ops_port,
            registry=registry,
            readiness=probe.reason,
        ),
    ):
        log.info("retention worker running a pass every %ss", settings.interval_s)
        while not stop.is_set():
            await one_pass(settings, metrics, clock, stop)
            if await wait_or_stop(stop, settings.interval_s):
                break
    log.info("retention worker stopped")
    return 0


def main(argv: list[str]) -> int:
    parser = command_parser(
        "census retention",
        "Create day partitions ahead and purge rows past their horizon "
        "(drop whole day partitions; batched DELETE elsewhere). Runs a pass every "
        "CENSUS_RETENTION_INTERVAL_S until SIGTERM.",
        RetentionSettings,
    )
    parser.add_argument(
        "--once", action="store_true", help="run one pass and exit (cron, Kubernetes CronJob)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what one pass would create, drop and delete; change nothing (implies --once)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load(RetentionSettings)
    except SettingsError as exc:
        print(f"census retention: {exc}", file=sys.stderr)
        return 2
    configure_logging("retention", settings.log)
    warn_unknown_variables(RetentionSettings, "CENSUS_RETENTION_", log)
    if args.dry_run:
        return asyncio.run(print_dry_run(settings, utc_now))
    once: bool = args.once
    return run_service(lambda stop: serve(settings, stop, once=once))
