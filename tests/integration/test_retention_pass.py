"""One retention pass on a real PostgreSQL, as the census_retention role: 120 days of data, the
days past 90 are gone from install rows, the rollups keep theirs."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.retention.metrics import RetentionMetrics
from services.retention.plan import Horizons
from services.retention.store import PgRetentionStore
from services.retention.worker import PassOptions, PassReport, RetentionPass
from tests.support.retention import (
    DAY,
    as_role,
    days_with_rows,
    migrate_database,
    partition_days,
    seed_days,
)

TODAY = dt.datetime.now(dt.UTC).date()
NOON = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)
OPTIONS = PassOptions(horizons=Horizons(90, 400), ahead_days=7, delete_batch=7)


@pytest.fixture(scope="module")
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate_database(database, TODAY)
    conn = await asyncpg.connect(database)
    try:
        await seed_days(conn, TODAY, 120)
        # A DEFAULT partition with one expired and one future row: purged by DELETE, not drop.
        await conn.execute("CREATE TABLE rollup_events_default PARTITION OF rollup_events DEFAULT")
        await conn.execute(
            """INSERT INTO rollup_events (day, product, event, dimensions, events)
               VALUES ($1, 'pulse', 'old', '{}', 1), ($2, 'pulse', 'future', '{}', 1)""",
            TODAY - 500 * DAY,
            TODAY + 60 * DAY,
        )
        yield conn
    finally:
        await conn.close()


async def run_pass(dsn: str, registry: CollectorRegistry) -> PassReport:
    conn = await asyncpg.connect(as_role(dsn, "census_retention"))
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=2000)
        metrics = RetentionMetrics(registry)
        return await RetentionPass(store, OPTIONS, metrics, lambda: NOON, asyncio.Event()).run()
    finally:
        await conn.close()


async def test_one_pass_drops_exactly_the_expired_days(
    admin: asyncpg.Connection, database: str
) -> None:
    all_days = {TODAY - i * DAY for i in range(120)}
    kept_installs = {TODAY - i * DAY for i in range(90)}
    ahead = {TODAY + i * DAY for i in range(8)}
    assert await days_with_rows(admin, "install_days") == all_days
    expired_activity = await admin.fetchval(
        "SELECT count(*) FROM install_activity WHERE last_day < $1", TODAY - 89 * DAY
    )
    assert expired_activity == 90

    registry = CollectorRegistry()
    report = await run_pass(database, registry)

    assert report.ok, report.failures
    # 30 install_days partitions past the 90-day horizon; the rollups drop none.
    assert report.dropped == 30
    # Per-install rows: exactly the 90 most recent days remain, each whole.
    assert await days_with_rows(admin, "install_days") == kept_installs
    assert await partition_days(admin, "install_days") == kept_installs | ahead
    assert await admin.fetchval("SELECT count(*) FROM install_days") == 90 * 3
    # Rollups keep all 120 days (400-day horizon). rollup_activity is written up to 27 days
    # ahead of a ping's day, so it gets partitions that far ahead plus the 7-day margin.
    assert await partition_days(admin, "rollup_events") == all_days | ahead
    activity_ahead = {TODAY + i * DAY for i in range(27 + 7 + 1)}
    assert await partition_days(admin, "rollup_activity") == all_days | activity_ahead
    assert await days_with_rows(admin, "rollup_activity") == all_days
    # rollup_events also holds the DEFAULT partition's future row (the expired one is deleted).
    assert await days_with_rows(admin, "rollup_events") == all_days | {TODAY + 60 * DAY}
    # install_activity: rows last seen past the horizon deleted, the others kept.
    last_days = {r[0] for r in await admin.fetch("SELECT DISTINCT last_day FROM install_activity")}
    assert last_days == kept_installs
    assert await admin.fetchval("SELECT count(*) FROM install_activity") == 90 * 3
    # The DEFAULT partition: the expired row deleted, the future one kept.
    events = {r[0] for r in await admin.fetch("SELECT event FROM rollup_events_default")}
    assert events == {"future"}

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert sample("census_retention_partitions_dropped_total", table="install_days") == 30
    for rollup in ("rollup_activity", "rollup_events"):
        assert sample("census_retention_partitions_dropped_total", table=rollup) == 0
    # census migrate made today + 3; the pass adds today + 4 .. today + 7.
    assert sample("census_retention_partitions_created_total", table="install_days") == 4
    assert (
        sample("census_retention_rows_purged_total", table="install_activity", method="delete")
        == 90
    )
    assert sample("census_retention_rows_purged_total", table="rollup_events", method="delete") == 1
    assert sample("census_retention_last_success_timestamp_seconds") > 0
    assert sample("census_retention_pass_duration_seconds_count") == 1

    # A second pass finds nothing left to do.
    again = await run_pass(database, CollectorRegistry())
    assert again.ok and (again.created, again.dropped, again.rows_purged) == (0, 0, 0)
    assert await admin.fetchval("SELECT count(*) FROM install_days") == 90 * 3
