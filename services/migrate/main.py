"""`census migrate`: apply schemas/sql to the database named by CENSUS_PG_DSN."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import sys

import asyncpg

from services.common.logs import configure_logging
from services.common.settings import (
    LogSettings,
    PostgresSettings,
    SettingsError,
    command_parser,
    load,
    setting,
)
from services.migrate.migrations import MigrationFileError, discover
from services.migrate.runner import MigrationError, migrate

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MigrateSettings:
    pg: PostgresSettings = dataclasses.field(default_factory=PostgresSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    ahead_days: int = setting(
        "CENSUS_PARTITIONS_AHEAD_DAYS", 3, "day partitions created ahead of today"
    )


async def run(settings: MigrateSettings) -> int:
    migrations = discover()
    conn = await asyncpg.connect(settings.pg.dsn, timeout=settings.pg.connect_timeout_s)
    try:
        report = await migrate(
            conn, migrations, today=dt.datetime.now(dt.UTC).date(), ahead_days=settings.ahead_days
        )
    finally:
        await asyncio.wait_for(conn.close(), timeout=5)
    if report.applied:
        log.info("applied %d migration(s): %s", len(report.applied), ", ".join(report.applied))
    log.info(
        "schema up to date (%d migrations); %d day partition(s) created",
        len(migrations),
        report.partitions_created,
    )
    return 0


def main(argv: list[str]) -> int:
    parser = command_parser(
        "census migrate",
        "Apply the numbered SQL migrations in schemas/sql; safe to run twice.",
        MigrateSettings,
    )
    parser.parse_args(argv)
    try:
        settings = load(MigrateSettings)
    except SettingsError as exc:
        print(f"census migrate: {exc}", file=sys.stderr)
        return 2
    configure_logging("migrate", settings.log)
    try:
        return asyncio.run(run(settings))
    except (MigrationError, MigrationFileError) as exc:
        log.error("migration failed: %s", exc)
        return 1
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.error("cannot reach PostgreSQL at the configured CENSUS_PG_DSN: %s", exc)
        return 1
