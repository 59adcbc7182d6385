"""The read boundary: the analyst views through a read-only asyncpg pool as census_analyst."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol

import asyncpg

from services.dashboard import queries
from services.dashboard.rows import (
    ActiveRow,
    ActivityRow,
    AttrRow,
    CohortRow,
    CountRow,
    FreshnessRow,
    LatestActivity,
    OutcomeEvents,
    ValueRow,
)


class StoreUnavailable(Exception):
    """PostgreSQL cannot answer now (down, or a query ran past the statement timeout)."""


class AnalystStore(Protocol):
    async def activity(self, product: str, start: dt.date, end: dt.date) -> list[ActivityRow]: ...
    async def latest_activity(self, day: dt.date) -> list[LatestActivity]: ...
    async def active_installs(
        self, product: str, start: dt.date, end: dt.date
    ) -> list[ActiveRow]: ...
    async def attr_values(
        self, product: str, attr: str, start: dt.date, end: dt.date
    ) -> list[ValueRow]: ...
    async def attr_values_day(self, product: str, day: dt.date) -> list[AttrRow]: ...
    async def counts(self, product: str, day: dt.date) -> list[CountRow]: ...
    async def outcomes(
        self,
        product: str,
        event: str | None,
        by: str,
        outcome: str,
        category: str | None,
        start: dt.date,
        end: dt.date,
    ) -> list[OutcomeEvents]: ...
    async def cohorts(self, product: str, since: dt.date) -> list[CohortRow]: ...
    async def freshness(self) -> list[FreshnessRow]: ...


_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.QueryCanceledError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
)


class PgAnalystStore:
    """Every statement runs read-only, bounded by statement_timeout."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _fetch(self, query: queries.Query) -> list[asyncpg.Record]:
        sql, args = query
        try:
            async with self._pool.acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                return rows
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def activity(self, product: str, start: dt.date, end: dt.date) -> list[ActivityRow]:
        rows = await self._fetch(queries.activity(product, start, end))
        return [ActivityRow(r["day"], r["dau"], r["wau"], r["mau"], r["new"]) for r in rows]

    async def latest_activity(self, day: dt.date) -> list[LatestActivity]:
        rows = await self._fetch(queries.latest_activity(day))
        return [
            LatestActivity(
                r["product"], ActivityRow(r["day"], r["dau"], r["wau"], r["mau"], r["new"])
            )
            for r in rows
        ]

    async def active_installs(self, product: str, start: dt.date, end: dt.date) -> list[ActiveRow]:
        rows = await self._fetch(queries.active_installs(product, start, end))
        return [
            ActiveRow(r["day"], r["version"], r["platform"], r["os"], r["arch"], r["installs"])
            for r in rows
        ]

    async def attr_values(
        self, product: str, attr: str, start: dt.date, end: dt.date
    ) -> list[ValueRow]:
        rows = await self._fetch(queries.attr_values(product, attr, start, end))
        return [ValueRow(r["day"], r["value"], r["installs"]) for r in rows]

    async def attr_values_day(self, product: str, day: dt.date) -> list[AttrRow]:
        rows = await self._fetch(queries.attr_values_day(product, day))
        return [AttrRow(r["attr"], r["value"], r["installs"]) for r in rows]

    async def counts(self, product: str, day: dt.date) -> list[CountRow]:
        rows = await self._fetch(queries.counts(product, day))
        return [
            CountRow(
                r["count_key"],
                r["installs"],
                int(r["sum"]),
                r["min"],
                r["max"],
                tuple(r["histogram"]),
            )
            for r in rows
        ]

    async def outcomes(
        self,
        product: str,
        event: str | None,
        by: str,
        outcome: str,
        category: str | None,
        start: dt.date,
        end: dt.date,
    ) -> list[OutcomeEvents]:
        rows = await self._fetch(
            queries.outcomes(product, event, by, outcome, category, start, end)
        )
        return [
            OutcomeEvents(r["day"], r["value"], r["outcome"], r["category"], r["events"])
            for r in rows
        ]

    async def cohorts(self, product: str, since: dt.date) -> list[CohortRow]:
        rows = await self._fetch(queries.cohorts(product, since))
        return [CohortRow(r["cohort_week"], r["week_offset"], r["installs"]) for r in rows]

    async def freshness(self) -> list[FreshnessRow]:
        rows = await self._fetch(queries.freshness())
        return [FreshnessRow(r["product"], r["latest_day"], r["aggregated_at"]) for r in rows]


async def open_pool(
    dsn: str, *, size: int, statement_timeout_ms: int, timeout_s: float
) -> asyncpg.Pool:
    """A read-only pool: min one connection, so readiness follows PostgreSQL."""
    settings: dict[str, Any] = {
        "application_name": "census-dashboard",
        "default_transaction_read_only": "on",
        "statement_timeout": str(statement_timeout_ms),
    }
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=0, max_size=size, timeout=timeout_s, server_settings=settings
    )
    return pool


async def close_pool(pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=timeout_s)
    except TimeoutError:
        pool.terminate()
