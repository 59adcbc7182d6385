"""Benchmark: purging 30 expired days of install_days by dropping day partitions (the retention
worker's pass) vs by batched DELETE on an identical copy, with a concurrent upsert loop measuring
the longest stall a writer sees during each.

Not a test. Uses a fresh database on the PostgreSQL named by CENSUS_BENCH_PG_DSN (default: the
shared test cluster), copies it with CREATE DATABASE ... TEMPLATE, and drops both afterwards.
CENSUS_BENCH_RETENTION_ROWS sets the scale (default 10,000,000 rows over 120 days).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from services.migrate.migrations import discover
from services.migrate.runner import migrate
from services.retention.metrics import RetentionMetrics
from services.retention.plan import Horizons, RegisteredTable
from services.retention.store import PgRetentionStore
from services.retention.worker import PassOptions, RetentionPass

ADMIN_DSN = os.environ.get("CENSUS_BENCH_PG_DSN", "postgresql://census@127.0.0.1:26432/census")
ROWS = int(os.environ.get("CENSUS_BENCH_RETENTION_ROWS", "10000000"))
DAYS = 120
HORIZON = 90
DELETE_BATCH = 5000
LOCK_TIMEOUT_MS = 2000
RESULTS = Path(__file__).resolve().parent / "results" / "retention.json"
TODAY = dt.datetime.now(dt.UTC).date()
NOON = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)


def dsn_for(database: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def admin_execute(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def load(database: str) -> float:
    """Migrate and fill install_days with ROWS rows over DAYS days; returns seconds taken."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn_for(database))
    try:
        await migrate(conn, discover(), today=TODAY, ahead_days=7)
        first = TODAY - dt.timedelta(days=DAYS - 1)
        await conn.fetchval(
            "SELECT census_ensure_day_partitions('install_days', $1, $2)", first, TODAY
        )
        await conn.execute("SET synchronous_commit = off")
        per_day = -(-ROWS // DAYS)
        for i in range(DAYS):
            await conn.execute(
                """INSERT INTO install_days (day, product, install_id, version, platform, os,
                                             arch, attrs, counts, pings, first_ping, last_ping)
                   SELECT $1, 'pulse', gen_random_uuid(), '5.0', 'docker', 'linux', 'amd64',
                          '{"ha": true}', '{"vms": 3}', 1, now(), now()
                     FROM generate_series(1, $2)""",
                first + dt.timedelta(days=i),
                min(per_day, ROWS - i * per_day),
            )
        await conn.execute("ANALYZE install_days")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.monotonic() - started


class Writer:
    """Upserts today's rows in a loop, one short transaction each; the longest one is the stall."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._stop = asyncio.Event()
        self.max_stall_s = 0.0
        self.upserts = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        ids = [uuid.uuid4() for _ in range(50)]
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                await conn.execute(
                    """INSERT INTO install_days (day, product, install_id, version, platform, os,
                                                 arch, pings, first_ping, last_ping)
                       VALUES ($1, 'writer', $2, '1', 'p', 'o', 'a', 1, now(), now())
                       ON CONFLICT (day, product, install_id)
                       DO UPDATE SET pings = install_days.pings + 1""",
                    TODAY,
                    ids[self.upserts % len(ids)],
                )
                self.max_stall_s = max(self.max_stall_s, time.monotonic() - began)
                self.upserts += 1
                await asyncio.sleep(0.001)
        finally:
            await conn.close()

    async def __aenter__(self) -> Writer:
        self._task = asyncio.create_task(self._run())
        while self.upserts < 10:  # warmed up: connection open, plans cached
            if self._task.done():
                await self._task
            await asyncio.sleep(0.01)
        self.max_stall_s = 0.0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=30)


async def expired_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        cutoff = TODAY - dt.timedelta(days=HORIZON - 1)
        return int(await conn.fetchval("SELECT count(*) FROM install_days WHERE day < $1", cutoff))
    finally:
        await conn.close()


async def purge_by_drop(dsn: str) -> tuple[float, float, int]:
    """The retention worker's pass; returns (seconds, writer stall s, partitions dropped)."""
    conn = await asyncpg.connect(dsn)
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=LOCK_TIMEOUT_MS)
        options = PassOptions(horizons=Horizons(install=HORIZON), ahead_days=7)
        worker = RetentionPass(
            store, options, RetentionMetrics(CollectorRegistry()), lambda: NOON, asyncio.Event()
        )
        async with Writer(dsn) as writer:
            started = time.monotonic()
            report = await worker.run()
            seconds = time.monotonic() - started
        if not report.ok:
            raise RuntimeError(f"retention pass failed: {report.failures}")
        return seconds, writer.max_stall_s, report.dropped
    finally:
        await conn.close()


async def purge_by_delete(dsn: str) -> tuple[float, float, int]:
    """Batched DELETEs of DELETE_BATCH rows, oldest expired partition first, with the store's
    bounded delete; returns (seconds, writer stall s, rows deleted)."""
    conn = await asyncpg.connect(dsn)
    try:
        store = PgRetentionStore(conn, lock_timeout_ms=LOCK_TIMEOUT_MS)
        cutoff = TODAY - dt.timedelta(days=HORIZON - 1)
        state = await store.table_state(RegisteredTable("install_days", "install"))
        expired = [p.name for p in state.partitions if p.upper is not None and p.upper <= cutoff]
        deleted = 0
        async with Writer(dsn) as writer:
            started = time.monotonic()
            for partition in expired:
                while True:
                    n = await store.delete_batch(
                        "install_days", "day", cutoff, DELETE_BATCH, partition
                    )
                    deleted += n
                    if n < DELETE_BATCH:
                        break
            seconds = time.monotonic() - started
        return seconds, writer.max_stall_s, deleted
    finally:
        await conn.close()


async def writer_baseline(dsn: str, seconds: float = 3.0) -> float:
    async with Writer(dsn) as writer:
        await asyncio.sleep(seconds)
    return writer.max_stall_s


async def main() -> int:
    suffix = uuid.uuid4().hex[:8]
    drop_db, delete_db = f"census_bench_ret_drop_{suffix}", f"census_bench_ret_delete_{suffix}"
    await admin_execute(f'CREATE DATABASE "{drop_db}"')
    try:
        load_seconds = await load(drop_db)
        print(f"loaded {ROWS} rows over {DAYS} days in {load_seconds:.1f}s", flush=True)
        await admin_execute(f'CREATE DATABASE "{delete_db}" TEMPLATE "{drop_db}"')
        expired = await expired_rows(dsn_for(drop_db))
        baseline = await writer_baseline(dsn_for(drop_db))
        drop_s, drop_stall, dropped = await purge_by_drop(dsn_for(drop_db))
        delete_s, delete_stall, deleted = await purge_by_delete(dsn_for(delete_db))
        if deleted != expired or await expired_rows(dsn_for(drop_db)) != 0:
            raise RuntimeError(f"purges disagree: {expired} expired, {deleted} deleted")
    finally:
        for db in (drop_db, delete_db):
            await admin_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    results: dict[str, Any] = {
        "rows": ROWS,
        "days": DAYS,
        "expired_days": DAYS - HORIZON,
        "expired_rows": expired,
        "partitions_dropped": dropped,
        "drop_seconds": round(drop_s, 4),
        "delete_seconds": round(delete_s, 3),
        "delete_vs_drop": round(delete_s / drop_s, 1),
        "max_writer_stall_ms": round(drop_stall * 1000, 1),
        "max_writer_stall_ms_delete": round(delete_stall * 1000, 1),
        "writer_baseline_max_ms": round(baseline * 1000, 1),
        "delete_batch": DELETE_BATCH,
        "lock_timeout_ms": LOCK_TIMEOUT_MS,
        "load_seconds": round(load_seconds, 1),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
