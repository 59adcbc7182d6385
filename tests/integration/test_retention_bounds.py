"""Partitions found by their bounds, on a real PostgreSQL, as the census_retention role: partitions
named any way or spanning several days past the horizon are dropped, one reaching into the horizon
loses only its expired rows, what cannot be purged is reported; and partitions exist ahead for
every day the aggregator may write, so its flush after midnight creates none and takes no lock
that would wait for (or stall) an analyst's query."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.aggregator.pgstore import ACTIVITY_AHEAD, DAY_TABLES, PgRollupStore
from services.retention.metrics import RetentionMetrics
from services.retention.plan import Horizons
from services.retention.store import PgRetentionStore
from services.retention.worker import PassOptions, PassReport, RetentionPass, dry_run
from tests.support.retention import DAY, as_role, migrate_database

TODAY = dt.datetime.now(dt.UTC).date()
NOON = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)
OPTIONS = PassOptions(horizons=Horizons(90, 400), ahead_days=7, step_attempts=2)
KEEP_FROM = TODAY - 89 * DAY  # the oldest day a 90-day horizon keeps


async def run_pass(dsn: str, registry: CollectorRegistry) -> PassReport:
    conn = await asyncpg.connect(as_role(dsn, "census_retention"))
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=500)
        metrics = RetentionMetrics(registry)
        return await RetentionPass(store, OPTIONS, metrics, lambda: NOON, asyncio.Event()).run()
    finally:
        await conn.close()


async def partitions(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch("SELECT partition_name FROM census_partition_bounds($1)", table)
    return {r[0] for r in rows}


async def add_rows(conn: asyncpg.Connection, *days: dt.date) -> None:
    await conn.executemany(
        """INSERT INTO install_days (day, product, install_id, version, platform, os, arch,
                                     pings, first_ping, last_ping)
           VALUES ($1::date, 'pulse', gen_random_uuid(), '5.0', 'docker', 'linux', 'amd64', 1,
                   $1::date::timestamptz, $1::date::timestamptz)""",
        [(d,) for d in days],
    )


@pytest.fixture
async def admin(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate_database(fresh_database, TODAY)
    conn = await asyncpg.connect(fresh_database)
    try:
        yield conn
    finally:
        await conn.close()


async def make_odd_partitions(conn: asyncpg.Connection) -> None:
    """Partitions of install_days no `_pYYYYMMDD` rule would find, with rows in them."""
    for name, low, high in [
        ("restored_from_backup", f"'{TODAY - 200 * DAY}'", f"'{TODAY - 199 * DAY}'"),
        ("ops_made_a_quarter", f"'{TODAY - 150 * DAY}'", f"'{TODAY - 120 * DAY}'"),
        ("since_forever", "MINVALUE", f"'{TODAY - 300 * DAY}'"),
        ("straddles_the_horizon", f"'{TODAY - 95 * DAY}'", f"'{TODAY - 80 * DAY}'"),
    ]:
        await conn.execute(
            f"CREATE TABLE {name} PARTITION OF install_days FOR VALUES FROM ({low}) TO ({high})"
        )
    await add_rows(
        conn,
        TODAY - 200 * DAY,
        TODAY - 150 * DAY,
        TODAY - 121 * DAY,
        TODAY - 1000 * DAY,
        TODAY - 95 * DAY,  # past the horizon, in the straddling partition
        KEEP_FROM - DAY,  # the last expired day, same partition
        KEEP_FROM,  # kept
        TODAY - 81 * DAY,  # kept
    )


async def test_partitions_of_any_name_or_width_past_the_horizon_are_dropped(
    admin: asyncpg.Connection, fresh_database: str
) -> None:
    await make_odd_partitions(admin)
    reader = await asyncpg.connect(as_role(fresh_database, "census_retention"))
    try:
        text = await dry_run(PgRetentionStore(reader, lock_timeout_ms=500), OPTIONS, lambda: NOON)
    finally:
        await reader.close()
    assert f"  drop   ops_made_a_quarter ([{TODAY - 150 * DAY}, {TODAY - 120 * DAY})" in text
    assert f"  drop   since_forever ([MINVALUE, {TODAY - 300 * DAY})" in text
    assert f"  drop   restored_from_backup ({TODAY - 200 * DAY}, " in text
    assert "  delete 2 row(s) of straddles_the_horizon" in text

    registry = CollectorRegistry()
    report = await run_pass(fresh_database, registry)

    assert report.ok, report.failures
    left = await partitions(admin, "install_days")
    assert not {"restored_from_backup", "ops_made_a_quarter", "since_forever"} & left
    assert "straddles_the_horizon" in left  # reaches into the horizon: kept, purged by rows
    days = {r[0] for r in await admin.fetch("SELECT day FROM straddles_the_horizon")}
    assert days == {KEEP_FROM, TODAY - 81 * DAY}
    assert await admin.fetchval("SELECT min(day) FROM install_days") == KEEP_FROM
    assert (
        registry.get_sample_value(
            "census_retention_rows_purged_total", {"table": "install_days", "method": "delete"}
        )
        == 2
    )
    for gauge in ("census_retention_unpurged_rows", "census_retention_unpurged_partitions"):
        assert registry.get_sample_value(gauge, {"table": "install_days"}) == 0


async def test_rows_past_the_horizon_that_cannot_be_purged_are_reported(
    admin: asyncpg.Connection, fresh_database: str
) -> None:
    await make_odd_partitions(admin)
    blocker = await asyncpg.connect(fresh_database)
    try:
        # Someone holds the straddling partition against writers for the whole pass.
        await blocker.execute("BEGIN")
        await blocker.execute("LOCK TABLE straddles_the_horizon IN EXCLUSIVE MODE")
        registry = CollectorRegistry()
        report = await run_pass(fresh_database, registry)
        await blocker.execute("ROLLBACK")
    finally:
        await blocker.close()

    assert not report.ok
    assert any("delete on install_days failed" in f for f in report.failures)
    (leftover,) = report.leftovers
    assert (leftover.table, leftover.partitions, leftover.rows) == (
        "install_days",
        ("straddles_the_horizon",),
        2,
    )
    labels = {"table": "install_days"}
    assert registry.get_sample_value("census_retention_unpurged_rows", labels) == 2
    assert registry.get_sample_value("census_retention_unpurged_partitions", labels) == 1
    assert registry.get_sample_value("census_retention_failures_total", {"step": "check"}) == 1
    # Not a successful pass: CensusRetentionStale fires too if it stays so.
    assert registry.get_sample_value("census_retention_last_success_timestamp_seconds") == 0
    # The rest of the pass went on: the partitions wholly past the horizon are gone.
    assert "ops_made_a_quarter" not in await partitions(admin, "install_days")


async def test_the_registry_says_how_far_ahead_the_aggregator_writes(
    admin: asyncpg.Connection,
) -> None:
    rows = await admin.fetch("SELECT table_name, written_ahead_days FROM census_partitioned_tables")
    ahead = {r["table_name"]: r["written_ahead_days"] for r in rows}
    assert ahead["rollup_activity"] == ACTIVITY_AHEAD == 27
    for table in DAY_TABLES:
        assert ahead[table] == 0, table


async def test_a_flush_after_midnight_creates_no_partition_and_waits_for_no_reader(
    admin: asyncpg.Connection, fresh_database: str
) -> None:
    report = await run_pass(fresh_database, CollectorRegistry())
    assert report.ok, report.failures
    count = "SELECT count(*) FROM pg_inherits"
    before = await admin.fetchval(count)

    # An analyst's long query holds every rollup_activity partition (ACCESS SHARE): a CREATE
    # TABLE ... PARTITION OF would queue behind it for ACCESS EXCLUSIVE, and queue everyone else.
    analyst = await asyncpg.connect(fresh_database)
    store = PgRollupStore(
        as_role(fresh_database, "census_aggregator"),
        connect_timeout_s=5,
        statement_timeout_s=2,  # also its lock_timeout: a wait for the lock fails the test
    )
    try:
        await analyst.execute("BEGIN")
        await analyst.fetchval("SELECT count(*) FROM rollup_activity")
        # Every day the aggregator may write before the next passes: after midnight (tomorrow),
        # and on until the margin retention keeps.
        for offset in range(OPTIONS.ahead_days + 1):
            await store.ensure_days({TODAY + offset * DAY}, events_only=set())
        # And the aggregator writes the furthest day one of tomorrow's pings changes.
        writer = await asyncpg.connect(as_role(fresh_database, "census_aggregator"))
        try:
            await writer.execute("SET lock_timeout = 2000")
            await writer.execute(
                "INSERT INTO rollup_activity (day, product, dau) VALUES ($1, 'pulse', 1)",
                TODAY + DAY + ACTIVITY_AHEAD * DAY,
            )
        finally:
            await writer.close()
        await analyst.execute("ROLLBACK")
    finally:
        await store.close()
        await analyst.close()
    assert await admin.fetchval(count) == before  # no partition was created by the aggregator
