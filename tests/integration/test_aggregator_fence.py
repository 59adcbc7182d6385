"""The fence, the one-source record and refused values against the real PostgreSQL store: a
zombie's flush is refused under real row locks, offsets never move backward, and a record
PostgreSQL cannot store fails as a record error (which the consumer dead-letters)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import encode_record, record_key
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.flush import write_flush
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.aggregator.store import FencedError, OffsetClaim, Source, SourceConflict, StoreError
from services.common.settings import HorizonSettings, load
from tests.support.aggregator import (
    BASE,
    FakeDeadLetters,
    FakeSource,
    drop_database,
    migrated_database,
    ping,
)
from tests.support.stack import StackEndpoints

CATALOGS = load_catalogs()
GROUP, TOPIC = "g", "census.pings.v1"


@pytest.fixture
async def dsns(stack_endpoints: StackEndpoints) -> AsyncIterator[tuple[str, str]]:
    """(owner DSN, census_aggregator DSN) of a fresh migrated database."""
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    try:
        yield stack_endpoints.dsn(name), stack_endpoints.dsn(name, user="census_aggregator")
    finally:
        await drop_database(stack_endpoints.admin_dsn, name)


def store(dsn: str) -> PgRollupStore:
    return PgRollupStore(dsn, connect_timeout_s=5, statement_timeout_s=30)


async def fence(s: PgRollupStore, *claims: OffsetClaim) -> None:
    async with s.transaction() as tx:
        await tx.fence(GROUP, TOPIC, list(claims))


async def offsets(dsn: str) -> dict[int, int]:
    async with store(dsn) as s:
        return await s.stored_offsets(GROUP, TOPIC)


async def test_the_fence_refuses_a_zombie_and_a_backward_offset(dsns: tuple[str, str]) -> None:
    owner, dsn = dsns
    async with store(dsn) as s:
        await fence(s, OffsetClaim(0, None, 10))
        with pytest.raises(FencedError):  # a member that believes there is no row yet
            await fence(s, OffsetClaim(0, None, 5))
        with pytest.raises(FencedError):  # backward
            await fence(s, OffsetClaim(0, 10, 5))
        with pytest.raises(FencedError):  # standing still
            await fence(s, OffsetClaim(0, 10, 10))
        with pytest.raises(FencedError):  # one bad claim fences the whole flush
            await fence(s, OffsetClaim(1, None, 3), OffsetClaim(0, 9, 12))
        await fence(s, OffsetClaim(0, 10, 12))
    assert await offsets(owner) == {0: 12}


async def test_a_zombie_waiting_on_the_row_lock_is_fenced_when_the_owner_commits(
    dsns: tuple[str, str],
) -> None:
    owner, dsn = dsns
    async with store(dsn) as new_owner, store(dsn) as zombie:
        await fence(new_owner, OffsetClaim(0, None, 10))
        admin = await asyncpg.connect(owner)
        try:
            async with new_owner.transaction() as tx:
                await tx.fence(GROUP, TOPIC, [OffsetClaim(0, 10, 20)])
                # The zombie still believes 10 is stored and tries to move it too.
                late = asyncio.create_task(fence(zombie, OffsetClaim(0, 10, 15)))
                deadline = asyncio.get_running_loop().time() + 20
                while not await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ):
                    assert not late.done(), "the zombie was not made to wait for the row lock"
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError("the zombie never waited on the offset row")
                    await asyncio.sleep(0.05)
            with pytest.raises(FencedError):
                await asyncio.wait_for(late, timeout=20)
        finally:
            await admin.close()
    assert await offsets(owner) == {0: 20}


async def test_the_database_records_one_source(dsns: tuple[str, str]) -> None:
    _, dsn = dsns
    mine = Source(GROUP, TOPIC, 3)
    async with store(dsn) as s:
        await s.claim_source(mine)
        await s.claim_source(mine)  # the same source again (a restart, another replica)
        for other in (Source("g2", TOPIC, 3), Source(GROUP, "t2", 3), Source(GROUP, TOPIC, 4)):
            with pytest.raises(SourceConflict) as refused:
                await s.claim_source(other)
            assert refused.value.recorded == mine


@pytest.mark.parametrize(
    "fields",
    [
        {"version": "5.0\x00"},
        {"attrs": {"deployment_method": "dock\x00er"}},
    ],
    ids=["nul-in-text", "nul-in-jsonb"],
)
async def test_a_value_postgresql_refuses_is_a_record_error(
    dsns: tuple[str, str], fields: dict[str, object]
) -> None:
    owner, dsn = dsns
    record = ping(uuid.uuid4(), BASE, **fields)  # type: ignore[arg-type]
    async with store(dsn) as s:
        with pytest.raises(StoreError) as refused:
            await write_flush(
                s,
                CATALOGS,
                group=GROUP,
                topic=TOPIC,
                claims=[OffsetClaim(0, None, 1)],
                records=[record],
                horizons=HorizonSettings(),
            )
        assert refused.value.record_error and not refused.value.retryable
        # The connection stays usable: the next flush goes through.
        good = ping(uuid.uuid4(), BASE)
        await write_flush(
            s,
            CATALOGS,
            group=GROUP,
            topic=TOPIC,
            claims=[OffsetClaim(0, None, 2)],
            records=[good],
            horizons=HorizonSettings(),
        )
    assert await offsets(owner) == {0: 2}


async def test_a_zombie_member_is_fenced_and_nothing_is_counted_twice(
    dsns: tuple[str, str],
) -> None:
    """Member A owns partition 0, then B takes it over without A hearing of it (a zombie: its
    session expired, say). A goes on flushing the records B counted already: the real store's
    fence refuses A, which seeks again from PostgreSQL; every record is counted once."""
    owner, dsn = dsns
    # No ping ids: only the fence, not the retry dedup, can keep a replay from counting twice.
    records = [ping(uuid.uuid4(), BASE) for _ in range(60)]
    values = [(record_key(r), encode_record(r)) for r in records]
    env = {
        "CENSUS_KAFKA_TOPIC": TOPIC,
        "CENSUS_AGGREGATOR_GROUP": GROUP,
        "CENSUS_PG_DSN": dsn,
        "CENSUS_AGGREGATOR_FLUSH_INTERVAL_S": "0.05",
    }
    settings = load(AggregatorSettings, env)
    a_source, b_source = FakeSource(1), FakeSource(1)
    for key, value in values[:30]:
        a_source.append(0, key, value)
    a_registry = CollectorRegistry()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    async with store(dsn) as a_store, store(dsn) as b_store:
        a = Aggregator(
            settings,
            a_store,
            CATALOGS,
            AggregatorMetrics.create(a_registry),
            source=a_source,
            dead_letters=FakeDeadLetters(),
        )
        b = Aggregator(
            settings,
            b_store,
            CATALOGS,
            AggregatorMetrics.create(CollectorRegistry()),
            source=b_source,
            dead_letters=FakeDeadLetters(),
        )
        a_task = asyncio.create_task(a.run(stop_a))
        b_task = asyncio.create_task(b.run(stop_b))
        try:
            await asyncio.wait_for(a_source.rebalance({0}), timeout=10)
            await until(lambda: _offset_is(owner, 30), "A counted the first 30")
            for key, value in values:
                b_source.append(0, key, value)
            await asyncio.wait_for(b_source.rebalance({0}), timeout=10)
            await until(lambda: _offset_is(owner, 60), "B, the new owner, counted the rest")
            for key, value in values[30:]:  # the zombie reads the same records
                a_source.append(0, key, value)

            async def fenced() -> bool:
                return a_registry.get_sample_value("census_aggregator_fenced_flushes_total") == 1

            await until(fenced, "A's flush fenced")
            assert not a_task.done() and not b_task.done()
        finally:
            stop_a.set()
            stop_b.set()
            await asyncio.wait_for(asyncio.gather(a_task, b_task), timeout=60)
    conn = await asyncpg.connect(owner)
    try:
        events = await conn.fetchval("SELECT sum(events) FROM rollup_events")
        pings = await conn.fetchval("SELECT sum(pings) FROM install_days")
    finally:
        await conn.close()
    assert (events, pings) == (60, 60)
    assert await offsets(owner) == {0: 60}


async def _offset_is(dsn: str, offset: int) -> bool:
    return (await offsets(dsn)).get(0) == offset


async def until(condition: Callable[[], Awaitable[bool]], what: str, within_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.05)
