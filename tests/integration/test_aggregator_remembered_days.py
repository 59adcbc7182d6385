"""The store's remembered install days (services/aggregator/daycache.py) on a real PostgreSQL:
served without a read while this store is the rows' only writer, forgotten whenever that may
have stopped, and a remembered row found gone fails the flush instead of losing its pings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.aggregator.pgstore import PgRollupStore
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta
from services.aggregator.store import StoreError
from tests.support.aggregator import drop_database, migrated_database
from tests.support.stack import StackEndpoints

TODAY = dt.datetime.now(dt.UTC).date()
AT = dt.datetime.combine(TODAY, dt.time(1, 0), dt.UTC)


@dataclass
class Db:
    store: PgRollupStore
    admin: asyncpg.Connection
    """Another writer, behind the store's back."""


@pytest.fixture
async def db(stack_endpoints: StackEndpoints) -> AsyncIterator[Db]:
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    store = PgRollupStore(
        stack_endpoints.dsn(name, user="census_aggregator"),
        connect_timeout_s=10,
        statement_timeout_s=30,
        remember_days=100,
    )
    admin = await asyncpg.connect(stack_endpoints.dsn(name))
    try:
        await store.ensure_days({TODAY}, events_only=set())
        yield Db(store, admin)
    finally:
        await admin.close()
        await store.close()
        await drop_database(stack_endpoints.admin_dsn, name)


def row(pings: int) -> InstallDay:
    return InstallDay("5.1.0", "docker", "linux", "amd64", {"a": "b"}, {"vms": 3}, pings, AT, AT)


async def pings_in_database(admin: asyncpg.Connection, key: DayKey) -> int | None:
    value: int | None = await admin.fetchval(
        "SELECT pings FROM install_days WHERE day = $1 AND product = $2 AND install_id = $3", *key
    )
    return value


async def committed(store: PgRollupStore, rows: dict[DayKey, InstallDay]) -> None:
    async with store.transaction() as tx:
        await tx.load_days(list(rows))
        await tx.save(rows, {}, RollupDelta(), {})


async def one_more_ping(store: PgRollupStore, key: DayKey) -> None:
    """A flush of one more ping of `key`'s install day, which it loads first."""
    async with store.transaction() as tx:
        stored = await tx.load_days([key])
        await tx.save({key: row(stored[key].pings + 1)}, {}, RollupDelta(), {})


async def failing_flush(store: PgRollupStore, key: DayKey) -> None:
    async with store.transaction() as tx:
        await tx.load_days([key])
        raise RuntimeError("the flush failed")


async def test_committed_rows_are_served_without_a_read_until_forgotten(db: Db) -> None:
    key: DayKey = (TODAY, "pulse", uuid.uuid4())
    await committed(db.store, {key: row(2)})
    await db.admin.execute("UPDATE install_days SET pings = 40 WHERE install_id = $1", key[2])
    async with db.store.transaction() as tx:
        assert (await tx.load_days([key]))[key].pings == 2  # remembered, not read back
    db.store.forget()
    async with db.store.transaction() as tx:
        assert (await tx.load_days([key]))[key].pings == 40


async def test_a_remembered_row_saved_again_is_updated_not_inserted(db: Db) -> None:
    key: DayKey = (TODAY, "pulse", uuid.uuid4())
    await committed(db.store, {key: row(1)})
    await one_more_ping(db.store, key)
    assert await pings_in_database(db.admin, key) == 2


async def test_a_remembered_row_deleted_behind_the_store_fails_the_flush_then_is_read(
    db: Db,
) -> None:
    key: DayKey = (TODAY, "pulse", uuid.uuid4())
    await committed(db.store, {key: row(3)})
    await db.admin.execute("DELETE FROM install_days WHERE install_id = $1", key[2])
    with pytest.raises(StoreError, match="0 of 1 stored install days") as failed:
        await one_more_ping(db.store, key)
    assert failed.value.retryable
    assert await pings_in_database(db.admin, key) is None  # rolled back, nothing half-written
    async with db.store.transaction() as tx:  # the retry reads what the database holds
        assert await tx.load_days([key]) == {}
        await tx.save({key: row(1)}, {}, RollupDelta(), {})
    assert await pings_in_database(db.admin, key) == 1


async def test_a_transaction_that_does_not_commit_forgets_everything(db: Db) -> None:
    key: DayKey = (TODAY, "pulse", uuid.uuid4())
    await committed(db.store, {key: row(2)})
    await db.admin.execute("UPDATE install_days SET pings = 9 WHERE install_id = $1", key[2])
    with pytest.raises(RuntimeError):
        await failing_flush(db.store, key)
    async with db.store.transaction() as tx:
        assert (await tx.load_days([key]))[key].pings == 9


async def test_only_the_rows_written_last_are_remembered_past_the_limit(db: Db) -> None:
    keys: list[DayKey] = [(TODAY, "pulse", uuid.uuid4()) for _ in range(150)]
    for start in range(0, 150, 50):
        await committed(db.store, {k: row(1) for k in keys[start : start + 50]})
    await db.admin.execute("UPDATE install_days SET pings = 7")
    async with db.store.transaction() as tx:
        loaded = await tx.load_days(keys)
    assert {k for k in keys if loaded[k].pings == 1} == set(keys[50:])  # the limit is 100
