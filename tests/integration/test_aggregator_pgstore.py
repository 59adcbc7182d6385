"""The asyncpg store gives back exactly what it wrote: new per-install rows go in by COPY, stored
install days are updated through one JSON value per statement, so every value must survive both
trips (bytes past one line of base64, text that JSON escapes, the largest counts and masks,
microseconds)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator

import pytest

from schemas.ping import MAX_COUNT
from services.aggregator.activity import MASK, Activity
from services.aggregator.dedup import CLIENT_IDS_KEPT, DERIVED_IDS_KEPT, ID_BYTES, SIGHTING_BYTES
from services.aggregator.pgstore import PgRollupStore
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta
from tests.support.aggregator import drop_database, migrated_database
from tests.support.stack import StackEndpoints

TODAY = dt.datetime.now(dt.UTC).date()
AT = dt.datetime.combine(TODAY, dt.time(0, 0, 1, 7), dt.UTC)
AWKWARD_TEXTS = ['say "hi"', "back\\slash", "line\nbreak", "tab\t", "é ü 漢字 🚀", "\u2028", "{}"]


@pytest.fixture
async def store(stack_endpoints: StackEndpoints) -> AsyncIterator[PgRollupStore]:
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    pg = PgRollupStore(
        stack_endpoints.dsn(name, user="census_aggregator"),
        connect_timeout_s=10,
        statement_timeout_s=30,
    )
    try:
        await pg.ensure_days({TODAY}, events_only=set())
        yield pg
    finally:
        await pg.close()
        await drop_database(stack_endpoints.admin_dsn, name)


def awkward_row(rng: random.Random, n: int) -> InstallDay:
    text = AWKWARD_TEXTS[n % len(AWKWARD_TEXTS)]
    return InstallDay(
        version=f"5.{n}.0",
        platform=text,
        os="linux",
        arch="arm64",
        attrs={"nsapp": text, "ai_enabled": n % 2 == 0, "empty": ""},
        counts={"vms": MAX_COUNT, "zero": 0, "n": n},
        pings=n + 1,
        first_ping=AT,
        last_ping=AT + dt.timedelta(hours=n % 23, microseconds=999_999 - n),
        # Past 57 bytes PostgreSQL's base64 breaks into lines: the store must read through them.
        ping_ids=rng.randbytes(CLIENT_IDS_KEPT * ID_BYTES if n % 2 else ID_BYTES * 3),
        retry_ids=rng.randbytes(DERIVED_IDS_KEPT * SIGHTING_BYTES if n % 3 else 0),
    )


async def test_install_days_and_activity_come_back_exactly_as_written(
    store: PgRollupStore,
) -> None:
    rng = random.Random(5)
    keys: list[DayKey] = [(TODAY, "pulse", uuid.UUID(int=rng.getrandbits(128))) for _ in range(40)]
    rows = {k: awkward_row(rng, n) for n, k in enumerate(keys)}
    activity = {
        (k[1], k[2]): Activity(TODAY - dt.timedelta(days=n), TODAY, MASK if n % 2 else 1)
        for n, k in enumerate(keys)
    }
    async with store.transaction() as tx:  # all new: COPY
        await tx.save(rows, activity, RollupDelta(), {})
    async with store.transaction() as tx:
        assert await tx.load_days(keys) == rows
        assert await tx.load_ping_ids(keys) == {
            k: (r.ping_ids, r.retry_ids) for k, r in rows.items()
        }
        assert await tx.load_activity(list(activity)) == activity
        changed = {k: awkward_row(rng, n + 3) for n, k in enumerate(keys)}
        moved = {
            k: Activity(a.first_day, a.last_day, a.days_seen >> 1 | 1) for k, a in activity.items()
        }
        await tx.save(changed, moved, RollupDelta(), {})  # all stored: the updates
    async with store.transaction() as tx:
        assert await tx.load_days(keys) == changed
        assert await tx.load_activity(list(activity)) == moved


async def test_keys_without_a_stored_row_load_nothing(store: PgRollupStore) -> None:
    absent: list[DayKey] = [(TODAY, "pulse", uuid.uuid4()), (TODAY, "novu", uuid.uuid4())]
    async with store.transaction() as tx:
        assert await tx.load_days(absent) == {}
        assert await tx.load_ping_ids(absent) == {}
        assert await tx.load_activity([(p, i) for _, p, i in absent]) == {}
