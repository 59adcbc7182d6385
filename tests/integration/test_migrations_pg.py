"""Migrations against a real PostgreSQL: applied once, safe twice, rolled back on failure."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.migrate.migrations import Migration, discover
from services.migrate.runner import MigrationError, migrate

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database)
    try:
        yield connection
    finally:
        await connection.close()


async def test_apply_twice_is_a_no_op(conn: asyncpg.Connection) -> None:
    migrations = discover()
    first = await migrate(conn, migrations, today=TODAY)
    assert [f for f in first.applied] == [m.filename for m in migrations]
    assert first.partitions_created > 0
    tables_before = await conn.fetch(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') ORDER BY 1"
    )

    second = await migrate(conn, migrations, today=TODAY)
    assert second.applied == ()
    assert second.already == len(migrations)
    assert second.partitions_created == 0
    tables_after = await conn.fetch(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') ORDER BY 1"
    )
    assert tables_after == tables_before
    ledger = await conn.fetchval("SELECT count(*) FROM census_migrations")
    assert ledger == len(migrations)


async def test_partition_parents_accept_rows_for_today(conn: asyncpg.Connection) -> None:
    await migrate(conn, discover(), today=TODAY)
    now = dt.datetime.now(dt.UTC)
    await conn.execute(
        """INSERT INTO install_days (day, product, install_id, version, platform, os, arch,
                                     attrs, counts, pings, first_ping, last_ping)
           VALUES ($1, 'pulse', $2, '5.0', 'docker', 'linux', 'amd64', '{}', '{"vms": 3}', 1, $3, $3)""",
        TODAY,
        uuid.uuid4(),
        now,
    )
    for table, columns in {
        "rollup_active_installs": "(day, product, version, platform, os, arch, installs, pings) "
        "VALUES ($1, 'pulse', '5.0', 'docker', 'linux', 'amd64', 1, 1)",
        "rollup_activity": "(day, product, dau, wau, mau) VALUES ($1, 'pulse', 1, 1, 1)",
        "rollup_attr_values": "(day, product, attr, value, installs) VALUES ($1, 'pulse', 'a', 'true', 1)",
        "rollup_counts": "(day, product, count_key, installs, sum, min, max, histogram) "
        "VALUES ($1, 'pulse', 'vms', 1, 3, 3, 3, '{0,0,1}')",
        "rollup_events": "(day, product, event, dimensions, events) VALUES ($1, 'pulse', 'startup', '{}', 1)",
    }.items():
        await conn.execute(f"INSERT INTO {table} {columns}", TODAY)
    partition = await conn.fetchval(
        "SELECT tableoid::regclass::text FROM install_days WHERE day = $1", TODAY
    )
    assert partition == f"install_days_p{TODAY:%Y%m%d}"


async def test_day_without_partition_is_refused_until_ensured(conn: asyncpg.Connection) -> None:
    await migrate(conn, discover(), today=TODAY)
    far = TODAY + dt.timedelta(days=40)
    insert = """INSERT INTO rollup_events (day, product, event, dimensions, events)
                VALUES ($1, 'pulse', 'startup', '{}', 1)"""
    with pytest.raises(asyncpg.exceptions.CheckViolationError):
        await conn.execute(insert, far)
    created = await conn.fetchval(
        "SELECT census_ensure_day_partitions('rollup_events', $1, $1)", far
    )
    assert created == 1
    await conn.execute(insert, far)


async def test_retried_ping_ids_live_in_install_days(conn: asyncpg.Connection) -> None:
    await migrate(conn, discover(), today=TODAY)
    assert await conn.fetchval("SELECT to_regclass('seen_pings')") is None
    classes = await conn.fetch(
        "SELECT DISTINCT horizon_class FROM census_partitioned_tables ORDER BY 1"
    )
    assert [r[0] for r in classes] == ["install", "rollup"]
    column = await conn.fetchrow(
        """SELECT data_type, is_nullable FROM information_schema.columns
            WHERE table_name = 'install_days' AND column_name = 'ping_ids'"""
    )
    assert column is not None and (column["data_type"], column["is_nullable"]) == ("bytea", "NO")
    with pytest.raises(asyncpg.exceptions.CheckViolationError):
        await conn.execute("INSERT INTO census_partitioned_tables VALUES ('x', 'dedup')")


async def test_roles_exist_and_analyst_cannot_read_install_rows(
    conn: asyncpg.Connection, database: str
) -> None:
    await migrate(conn, discover(), today=TODAY)
    roles = {
        r["rolname"]
        for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE 'census_%'")
    }
    assert roles >= {"census_ingest", "census_aggregator", "census_retention", "census_analyst"}
    analyst_dsn = database.replace("://census@", "://census_analyst@")
    analyst = await asyncpg.connect(analyst_dsn)
    try:
        assert await analyst.fetchval("SELECT count(*) FROM rollup_activity") >= 0
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await analyst.fetchval("SELECT count(*) FROM install_days")
    finally:
        await analyst.close()


async def test_failed_migration_rolls_back_and_names_file_and_statement(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await migrate(conn, discover(), today=TODAY)
    broken = Migration(
        version=900,
        name="broken",
        sql="CREATE TABLE half_done (a int);\nINSERT INTO half_done VALUES (1);\nSELECT * FROM no_such_table;\n",
    )
    with pytest.raises(MigrationError) as info:
        await migrate(conn, [*discover(), broken], today=TODAY)
    message = str(info.value)
    assert "0900_broken.sql, statement 3 (SELECT * FROM no_such_table;)" in message
    assert "UndefinedTableError" in message
    assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    assert await conn.fetchval("SELECT count(*) FROM census_migrations WHERE version = 900") == 0


async def test_changed_applied_migration_is_refused(conn: asyncpg.Connection) -> None:
    migrations = discover()
    await migrate(conn, migrations, today=TODAY)
    edited = Migration(
        migrations[0].version, migrations[0].name, migrations[0].sql + "\n-- edited\n"
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(conn, [edited, *migrations[1:]], today=TODAY)
