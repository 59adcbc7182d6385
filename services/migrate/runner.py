"""Applying migrations to a database: once each, each in its own transaction, under a lock."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Final

import asyncpg

from services.migrate.migrations import Migration, split_statements

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every `census migrate` of this database.
MIGRATE_LOCK_KEY: Final = 0x63656E7375730001
DEFAULT_AHEAD_DAYS: Final = 3

LEDGER_DDL: Final = """
CREATE TABLE IF NOT EXISTS census_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration failed or the ledger disagrees with the files; nothing of that file stayed."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[str, ...]
    already: int
    partitions_created: int


def _first_line(statement: str) -> str:
    for line in statement.splitlines():
        if line.strip() and not line.strip().startswith("--"):
            return line.strip()[:120]
    return statement[:120]


async def _apply_one(conn: asyncpg.Connection, migration: Migration) -> None:
    statements = split_statements(migration.sql)
    async with conn.transaction():
        for number, statement in enumerate(statements, start=1):
            try:
                await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{migration.filename}, statement {number} ({_first_line(statement)}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        await conn.execute(
            "INSERT INTO census_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            migration.checksum,
        )


async def ensure_partitions(conn: asyncpg.Connection, today: dt.date, ahead_days: int) -> int:
    """Create the day partitions of every registered table from yesterday to today + ahead, plus
    as far ahead as the table is written (`written_ahead_days`, 27 for rollup_activity), so the
    aggregator's first flush on a fresh install creates none under a table lock."""
    # to_jsonb reads the column where it exists: a database migrated only up to a file before
    # 0012 has no written_ahead_days, and its tables are written on their day only.
    rows = await conn.fetch(
        "SELECT table_name, coalesce((to_jsonb(t) ->> 'written_ahead_days')::int, 0) AS ahead"
        " FROM census_partitioned_tables t"
    )
    created = 0
    for row in rows:
        created += await conn.fetchval(
            "SELECT census_ensure_day_partitions($1, $2, $3)",
            row["table_name"],
            today - dt.timedelta(days=1),
            today + dt.timedelta(days=ahead_days + row["ahead"]),
        )
    return created


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration],
    *,
    today: dt.date,
    ahead_days: int = DEFAULT_AHEAD_DAYS,
) -> MigrationReport:
    """Apply what is missing; refuse if an applied file changed since it was applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK_KEY)
    try:
        await conn.execute(LEDGER_DDL)
        ledger = {r["version"]: r for r in await conn.fetch("SELECT * FROM census_migrations")}
        applied: list[str] = []
        for migration in migrations:
            row = ledger.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.filename} changed after it was applied "
                        f"(on {row['applied_at']:%Y-%m-%d}); add a new migration instead"
                    )
                continue
            log.info("applying %s", migration.filename)
            await _apply_one(conn, migration)
            applied.append(migration.filename)
        unknown = sorted(set(ledger) - {m.version for m in migrations})
        if unknown:
            log.warning("database has migrations this build does not know: %s", unknown)
        created = await ensure_partitions(conn, today, ahead_days)
        return MigrationReport(tuple(applied), len(migrations) - len(applied), created)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK_KEY)
