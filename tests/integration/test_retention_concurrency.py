"""Retention beside other sessions on a real PostgreSQL: a second worker skips the pass, and a
writer upserting today's rows during a pass loses nothing and waits at most about lock_timeout,
even when a long transaction makes the drop wait for its lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from services.retention.metrics import RetentionMetrics
from services.retention.plan import Horizons
from services.retention.store import RETENTION_LOCK_KEY, PgRetentionStore
from services.retention.worker import PassOptions, PassReport, RetentionPass
from tests.support.retention import (
    DAY,
    ConcurrentWriter,
    as_role,
    migrate_database,
    partition_days,
    seed_days,
)
from tests.support.stack import ROOT

TODAY = dt.datetime.now(dt.UTC).date()
NOON = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)
LOCK_TIMEOUT_MS = 300
# Scheduling noise on a busy 2-core machine, on top of lock_timeout.
MARGIN_S = 0.7


@pytest.fixture(scope="module")
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate_database(database, TODAY)
    conn = await asyncpg.connect(database)
    try:
        await seed_days(conn, TODAY, 120)
        yield conn
    finally:
        await conn.close()


async def run_pass(
    dsn: str, registry: CollectorRegistry, *, install_days: int = 90, attempts: int = 4
) -> PassReport:
    conn = await asyncpg.connect(as_role(dsn, "census_retention"))
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=LOCK_TIMEOUT_MS)
        options = PassOptions(
            horizons=Horizons(install_days, 400),
            step_attempts=attempts,
            retry_backoff_s=0.05,
        )
        metrics = RetentionMetrics(registry)
        return await RetentionPass(store, options, metrics, lambda: NOON, asyncio.Event()).run()
    finally:
        await conn.close()


async def test_a_second_worker_skips_while_the_lock_is_held(
    admin: asyncpg.Connection, database: str
) -> None:
    holder = await asyncpg.connect(database)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
        registry = CollectorRegistry()
        report = await run_pass(database, registry)
        assert report.skipped
        assert registry.get_sample_value("census_retention_skipped_passes_total") == 1
        assert TODAY - 119 * DAY in await partition_days(admin, "install_days")

        # The command says so too, and a skip is not a failure for cron.
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.cli", "retention", "--once"],
            env={**os.environ, "CENSUS_PG_DSN": as_role(database, "census_retention")},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        assert "another retention worker holds the lock; skipping this pass" in result.stderr
        assert TODAY - 119 * DAY in await partition_days(admin, "install_days")
    finally:
        await holder.close()


async def test_a_concurrent_writer_is_not_blocked_and_loses_nothing(
    admin: asyncpg.Connection, database: str
) -> None:
    writer = ConcurrentWriter(as_role(database, "census_aggregator"), TODAY)
    async with writer:
        report = await run_pass(database, CollectorRegistry(), install_days=100)
        # Keep writing a little after the pass, so every upsert above raced with it.
        before = writer.stats.upserts
        deadline = asyncio.get_running_loop().time() + 10
        while writer.stats.upserts < before + 20:
            assert asyncio.get_running_loop().time() < deadline, "the writer stopped writing"
            await asyncio.sleep(0.01)
    assert report.ok, report.failures
    assert report.dropped > 0
    assert min(await partition_days(admin, "install_days")) == TODAY - 99 * DAY
    assert writer.stats.errors == []
    assert writer.stats.max_stall_s < LOCK_TIMEOUT_MS / 1000 + MARGIN_S
    assert await writer.totals(admin) == (writer.stats.upserts, writer.stats.upserts)


async def test_a_drop_that_cannot_get_its_lock_gives_up_after_lock_timeout(
    admin: asyncpg.Connection, database: str
) -> None:
    # A long transaction on install_days (an aggregator batch that takes its time) makes every
    # DROP wait; writers queue behind the waiting DROP but only until its lock_timeout.
    long_txn = await asyncpg.connect(database)
    writer = ConcurrentWriter(as_role(database, "census_aggregator"), TODAY)
    try:
        await long_txn.execute("BEGIN")
        await long_txn.execute("LOCK TABLE install_days IN ROW EXCLUSIVE MODE")
        async with writer:
            report = await run_pass(database, CollectorRegistry(), install_days=95, attempts=2)
        await long_txn.execute("ROLLBACK")
    finally:
        await long_txn.close()
    assert not report.ok
    drops = [f for f in report.failures if f.startswith("drop on")]
    assert drops and all("LockNotAvailableError" in f for f in drops)
    # What could not be dropped is reported by name, with its rows, as a failure of the pass.
    (left,) = [f for f in report.failures if "could not be purged" in f]
    assert left.startswith("install_days: ") and "install_days_p" in left
    # Nothing of install_days was dropped while the lock was held.
    assert min(await partition_days(admin, "install_days")) == TODAY - 99 * DAY
    assert writer.stats.errors == []
    assert writer.stats.max_stall_s >= LOCK_TIMEOUT_MS / 1000 * 0.5  # it did queue behind a DROP
    assert writer.stats.max_stall_s < LOCK_TIMEOUT_MS / 1000 + MARGIN_S
    assert await writer.totals(admin) == (writer.stats.upserts, writer.stats.upserts)

    # Once the long transaction is gone, the next pass finishes the job.
    retry = await run_pass(database, CollectorRegistry(), install_days=95)
    assert retry.ok and retry.dropped == 5
    assert min(await partition_days(admin, "install_days")) == TODAY - 94 * DAY
