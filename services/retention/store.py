"""The retention worker's view of PostgreSQL: a small Protocol and its asyncpg implementation.

Every writing method is one short transaction with `SET LOCAL lock_timeout`, so a step waits at
most that long for a lock (and writers queued behind it wait no longer).
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Protocol

import asyncpg

from services.retention.plan import (
    HORIZON_CLASSES,
    DayPartition,
    RegisteredTable,
    TableState,
)

# Any constant works; it only has to be the same for every retention worker of a database.
RETENTION_LOCK_KEY: Final = 0x63656E7375730002


class RegistryError(ValueError):
    """census_partitioned_tables names something the worker cannot use."""


class RetentionStore(Protocol):
    async def try_lock(self) -> bool: ...
    async def unlock(self) -> None: ...
    async def registered_tables(self) -> list[RegisteredTable]: ...
    async def table_state(self, entry: RegisteredTable) -> TableState: ...
    async def create_partition(self, table: str, day: dt.date) -> int: ...
    async def drop_partition(self, table: str, partition: str, keep_from: dt.date) -> bool: ...
    async def delete_batch(
        self, table: str, column: str, keep_from: dt.date, limit: int, partition: str | None
    ) -> int: ...
    async def count_expired(
        self, table: str, column: str, keep_from: dt.date, partition: str | None
    ) -> int: ...


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PgRetentionStore:
    """RetentionStore on one asyncpg connection (the advisory lock is held by this session)."""

    def __init__(self, conn: asyncpg.Connection, *, lock_timeout_ms: int) -> None:
        self._conn = conn
        self._lock_timeout = f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"

    async def try_lock(self) -> bool:
        return bool(
            await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
        )

    async def unlock(self) -> None:
        await self._conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_KEY)

    async def registered_tables(self) -> list[RegisteredTable]:
        rows = await self._conn.fetch(
            """SELECT table_name, horizon_class, written_ahead_days
                 FROM census_partitioned_tables ORDER BY 1"""
        )
        tables: list[RegisteredTable] = []
        for row in rows:
            horizon_class = row["horizon_class"]
            if horizon_class not in HORIZON_CLASSES:
                raise RegistryError(f"{row['table_name']}: unknown horizon class {horizon_class!r}")
            tables.append(
                RegisteredTable(row["table_name"], horizon_class, row["written_ahead_days"])
            )
        return tables

    async def table_state(self, entry: RegisteredTable) -> TableState:
        """Its partitions by their bounds (census_partition_bounds), whatever their names."""
        key = await self._partition_key(entry.table)
        if key is None:
            raise RegistryError(f"{entry.table}: not range-partitioned by a single date column")
        rows = await self._conn.fetch(
            """SELECT partition_name, lower_day, upper_day, is_default, estimated_rows
                 FROM census_partition_bounds($1)""",
            entry.table,
        )
        partitions = tuple(
            DayPartition(r["partition_name"], r["lower_day"], r["upper_day"], r["estimated_rows"])
            for r in rows
            if not r["is_default"]
        )
        default = next((r["partition_name"] for r in rows if r["is_default"]), None)
        return TableState(
            entry.table,
            entry.horizon_class,
            partitions,
            default,
            key,
            entry.written_ahead_days,
        )

    async def _partition_key(self, table: str) -> str | None:
        """The single date column `table` is range-partitioned by, or None."""
        value = await self._conn.fetchval(
            """SELECT a.attname::text FROM pg_partitioned_table pt
                 JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
                WHERE pt.partrelid = to_regclass(quote_ident($1)) AND pt.partnatts = 1
                  AND pt.partstrat = 'r' AND a.atttypid = 'date'::regtype""",
            table,
        )
        return None if value is None else str(value)

    async def create_partition(self, table: str, day: dt.date) -> int:
        async with self._conn.transaction():
            await self._conn.execute(self._lock_timeout)
            created = await self._conn.fetchval(
                "SELECT census_ensure_day_partitions($1, $2, $2)", table, day
            )
        return int(created)

    async def drop_partition(self, table: str, partition: str, keep_from: dt.date) -> bool:
        """Drop `partition` if its whole range is still before `keep_from` (checked again in
        census_drop_partition, from the catalog)."""
        async with self._conn.transaction():
            await self._conn.execute(self._lock_timeout)
            dropped = await self._conn.fetchval(
                "SELECT census_drop_partition($1, $2, $3)", table, partition, keep_from
            )
        return bool(dropped)

    def _expired(self, table: str, column: str, partition: str | None) -> str:
        where = f"{quote_ident(column)} < $1"
        if partition is not None:
            # ctids are unique only within one partition: pin the rows to the one we purge.
            # `partition` is a regclass text from census_partition_bounds (already quoted).
            where += " AND tableoid = to_regclass($3)::oid"
        return f"FROM {quote_ident(table)} WHERE {where}"

    async def delete_batch(
        self, table: str, column: str, keep_from: dt.date, limit: int, partition: str | None
    ) -> int:
        expired = self._expired(table, column, partition)
        # The outer condition repeats the inner one so a row a writer moved into the horizon
        # meanwhile (EvalPlanQual re-checks it) is left alone.
        sql = f"DELETE {expired} AND ctid = ANY(ARRAY(SELECT ctid {expired} LIMIT $2))"
        args: list[object] = [keep_from, limit]
        if partition is not None:
            args.append(partition)
        async with self._conn.transaction():
            await self._conn.execute(self._lock_timeout)
            status = await self._conn.execute(sql, *args)
        return int(status.split()[-1])

    async def count_expired(
        self, table: str, column: str, keep_from: dt.date, partition: str | None
    ) -> int:
        sql = f"SELECT count(*) {self._expired(table, column, partition)}"
        args: list[object] = [keep_from]
        if partition is not None:
            # $2 is unused here; keep the partition parameter at $3 like delete_batch.
            sql = sql.replace("$3", "$2")
            args.append(partition)
        return int(await self._conn.fetchval(sql, *args))
