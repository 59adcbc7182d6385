"""Test helpers for the retention worker: a migrated database with N days of data, a concurrent
writer standing in for the aggregator, and a look at what is left."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid

import asyncpg

from services.migrate.migrations import discover
from services.migrate.runner import migrate

DAY = dt.timedelta(days=1)
ROLLUPS = ("rollup_activity", "rollup_events")


def as_role(dsn: str, role: str) -> str:
    """`dsn` with the user replaced (the test cluster trusts local connections)."""
    return dsn.replace("://census@", f"://{role}@", 1)


async def migrate_database(dsn: str, today: dt.date) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, discover(), today=today)
    finally:
        await conn.close()


async def seed_days(conn: asyncpg.Connection, today: dt.date, days: int, per_day: int = 3) -> None:
    """`days` days (today back) of install_days, rollups and install_activity rows;
    install_activity gets `per_day` installs last seen on each day."""
    first = today - (days - 1) * DAY
    for table in ("install_days", *ROLLUPS):
        await conn.fetchval("SELECT census_ensure_day_partitions($1, $2, $3)", table, first, today)
    await conn.execute(
        """INSERT INTO install_days (day, product, install_id, version, platform, os, arch,
                                     pings, first_ping, last_ping)
           SELECT d::date, 'pulse', gen_random_uuid(), '5.0', 'docker', 'linux', 'amd64',
                  1, d, d
             FROM generate_series($1::date, $2::date, '1 day') d, generate_series(1, $3) n""",
        first,
        today,
        per_day,
    )
    await conn.execute(
        """INSERT INTO rollup_activity (day, product, dau, wau, mau)
           SELECT d::date, 'pulse', 3, 3, 3 FROM generate_series($1::date, $2::date, '1 day') d""",
        first,
        today,
    )
    await conn.execute(
        """INSERT INTO rollup_events (day, product, event, dimensions, events)
           SELECT d::date, 'pulse', 'startup', '{}', 3
             FROM generate_series($1::date, $2::date, '1 day') d""",
        first,
        today,
    )
    await conn.execute(
        """INSERT INTO install_activity (product, install_id, first_day, last_day, days_seen)
           SELECT 'pulse', gen_random_uuid(), d::date - 10, d::date, 1
             FROM generate_series($1::date, $2::date, '1 day') d, generate_series(1, $3) n""",
        first,
        today,
        per_day,
    )


async def days_with_rows(conn: asyncpg.Connection, table: str) -> set[dt.date]:
    return {r[0] for r in await conn.fetch(f"SELECT DISTINCT day FROM {table}")}


async def partition_days(conn: asyncpg.Connection, table: str) -> set[dt.date]:
    """Every day some partition of `table` covers, by the bounds in the catalog."""
    rows = await conn.fetch(
        """SELECT lower_day, upper_day FROM census_partition_bounds($1)
            WHERE NOT is_default AND lower_day > '-infinity' AND upper_day < 'infinity'""",
        table,
    )
    return {
        r["lower_day"] + dt.timedelta(days=i)
        for r in rows
        for i in range((r["upper_day"] - r["lower_day"]).days)
    }


@dataclasses.dataclass
class WriterStats:
    upserts: int = 0
    max_stall_s: float = 0.0
    errors: list[str] = dataclasses.field(default_factory=list)


class ConcurrentWriter:
    """Upserts today's rows into install_days and rollup_activity in a loop, one short
    transaction each (as the aggregator does), recording the longest single upsert."""

    def __init__(self, dsn: str, today: dt.date, installs: int = 20) -> None:
        self._dsn = dsn
        self._today = today
        self._installs = [uuid.uuid4() for _ in range(installs)]
        # Its own product, so several writers in one database count apart.
        self.product = f"writer-{uuid.uuid4().hex[:8]}"
        self.stats = WriterStats()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def _run(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            i = 0
            while not self._stop.is_set():
                install = self._installs[i % len(self._installs)]
                began = time.monotonic()
                try:
                    async with conn.transaction():
                        await conn.execute(
                            """INSERT INTO install_days (day, product, install_id, version,
                                   platform, os, arch, pings, first_ping, last_ping)
                               VALUES ($1, $3, $2, '1', 'p', 'o', 'a', 1, now(), now())
                               ON CONFLICT (day, product, install_id)
                               DO UPDATE SET pings = install_days.pings + 1,
                                             last_ping = excluded.last_ping""",
                            self._today,
                            install,
                            self.product,
                        )
                        await conn.execute(
                            """INSERT INTO rollup_activity (day, product, dau) VALUES ($1, $2, 1)
                               ON CONFLICT (day, product)
                               DO UPDATE SET dau = rollup_activity.dau + 1""",
                            self._today,
                            self.product,
                        )
                except asyncpg.PostgresError as exc:
                    self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    self.stats.upserts += 1
                self.stats.max_stall_s = max(self.stats.max_stall_s, time.monotonic() - began)
                self._started.set()
                i += 1
                await asyncio.sleep(0.002)
        finally:
            await conn.close()

    async def __aenter__(self) -> ConcurrentWriter:
        self._task = asyncio.create_task(self._run())
        started = asyncio.create_task(self._started.wait())
        done, _ = await asyncio.wait(
            {self._task, started}, timeout=10, return_when="FIRST_COMPLETED"
        )
        if started not in done:
            started.cancel()
            await self._task  # re-raises what stopped it
            raise TimeoutError("the concurrent writer did not start within 10 s")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)

    async def totals(self, conn: asyncpg.Connection) -> tuple[int, int]:
        """(sum of install_days.pings, rollup_activity.dau) the writer left for today."""
        pings = await conn.fetchval(
            "SELECT coalesce(sum(pings), 0) FROM install_days WHERE day = $1 AND product = $2",
            self._today,
            self.product,
        )
        dau = await conn.fetchval(
            "SELECT coalesce(sum(dau), 0) FROM rollup_activity WHERE day = $1 AND product = $2",
            self._today,
            self.product,
        )
        return int(pings), int(dau)
