"""Flush lanes (services/aggregator/lanes.py, run by consumer.py) against the fakes: partitions
split into lanes written at once, each lane a pipeline of its own, the rollups written in turns,
and a lane's failure or fence handled without counting anything twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, encode_record, record_key
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.flush import FlushResult, write_flush
from services.aggregator.inflight import FlushStep
from services.aggregator.lanes import Lane, lane_of, lane_records
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.store import OffsetClaim, StoreError
from services.aggregator.writer import BatchWriter, FlushFn
from services.common.settings import HorizonSettings, load
from tests.support.aggregator import (
    BASE,
    FakeDeadLetters,
    FakeRollupStore,
    FakeSource,
    FakeTables,
    FakeTx,
    ping,
    running,
)

CATALOGS = load_catalogs()
GROUP, TOPIC = "g", "census.pings.v1"


def pings(n: int) -> list[PingRecord]:
    return [ping(uuid.uuid4(), BASE, ping_id=uuid.uuid4()) for _ in range(n)]


def flush_on(store: FakeRollupStore, turn: asyncio.Lock | None = None) -> FlushFn:
    async def flush(claims: list[OffsetClaim], records: list[PingRecord]) -> FlushResult:
        return await write_flush(
            store,
            CATALOGS,
            group=GROUP,
            topic=TOPIC,
            claims=claims,
            records=records,
            horizons=HorizonSettings(),
            turn=turn,
        )

    return flush


def settings_of(batch_records: int) -> AggregatorSettings:
    return load(
        AggregatorSettings,
        {
            "CENSUS_KAFKA_TOPIC": TOPIC,
            "CENSUS_AGGREGATOR_GROUP": GROUP,
            "CENSUS_AGGREGATOR_FLUSH_INTERVAL_S": "0.05",
            "CENSUS_AGGREGATOR_RETRY_MAX_S": "0.2",
            "CENSUS_AGGREGATOR_BATCH_RECORDS": str(batch_records),
        },
    )


def source_of(partitions: int, logs: dict[int, list[PingRecord]]) -> FakeSource:
    source = FakeSource(partitions)
    for p, records in logs.items():
        for r in records:
            source.append(p, record_key(r), encode_record(r))
    return source


def aggregator_on(
    stores: list[FakeRollupStore], source: FakeSource, batch_records: int
) -> tuple[Aggregator, CollectorRegistry]:
    registry = CollectorRegistry()
    aggregator = Aggregator(
        settings_of(batch_records),
        stores[0],
        CATALOGS,
        AggregatorMetrics.create(registry),
        source=source,
        dead_letters=FakeDeadLetters(),
        lane_stores=stores[1:],
    )
    return aggregator, registry


def stored(tables: FakeTables) -> dict[int, int]:
    return {p: o for (g, _, p), o in tables.offsets.items() if g == GROUP}


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


class _FailsOnceReleased(FakeRollupStore):
    """A store whose next transaction waits for `release`, then fails as a lost connection."""

    def __init__(self, tables: FakeTables) -> None:
        super().__init__(tables)
        self.release = asyncio.Event()
        self.held = 0
        self._armed = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTx]:
        if self._armed:
            self._armed = False
            self.held += 1
            await self.release.wait()
            raise StoreError("ConnectionResetError: gone", retryable=True)
        async with super().transaction() as tx:
            yield tx


def test_a_lane_owns_its_partitions_only_and_gets_a_share_of_the_batch() -> None:
    lane = Lane(
        1, 3, FlushStep(BatchWriter(flush_on(FakeRollupStore()), FakeDeadLetters(), topic=TOPIC))
    )
    assert [p for p in range(9) if lane.owns(p)] == [1, 4, 7]
    assert all(lane_of(p, 3) == p % 3 for p in range(9))
    assert lane.own({0: 5, 1: 7, 2: None, 4: None}) == {1: 7, 4: None}
    assert [lane_records(20, n) for n in (1, 2, 3)] == [20, 10, 7]
    assert lane_records(1, 4) == 1


async def test_lanes_write_at_once_and_count_what_one_lane_counts() -> None:
    records = pings(120)
    logs = {p: [r for r in records if r.install_id.int % 4 == p] for p in range(4)}
    shared = FakeTables()
    stores = [FakeRollupStore(shared), FakeRollupStore(shared)]
    gate = asyncio.Event()
    for store in stores:
        store.gate = gate
    source = source_of(4, logs)
    aggregator, registry = aggregator_on(stores, source, 40)
    async with running(aggregator):
        await asyncio.wait_for(source.rebalance({0, 1, 2, 3}), timeout=5)
        await until(lambda: all(s.open_now == 1 for s in stores), "the lanes did not run at once")
        gate.set()
        await until(lambda: sum(stored(shared).values()) == len(records), "offsets not stored")
    assert stored(shared) == {p: len(logs[p]) for p in range(4)}
    assert registry.get_sample_value("census_aggregator_fenced_flushes_total") == 0

    alone = FakeRollupStore()
    source = source_of(4, logs)
    single, _ = aggregator_on([alone], source, 40)
    async with running(single):
        await asyncio.wait_for(source.rebalance({0, 1, 2, 3}), timeout=5)
        await until(lambda: sum(stored(alone.tables).values()) == len(records), "not stored")
    assert shared == alone.tables  # the same rows, rollups and offsets as one lane


async def test_a_lane_writes_on_while_another_lanes_flush_is_held_open() -> None:
    # Partition 0 is lane 0's (held open), partition 1 lane 1's: with one batch for both lanes,
    # lane 1 could not write its second batch before lane 0's first had committed.
    slow, fast = pings(10), pings(60)
    shared = FakeTables()
    stores = [FakeRollupStore(shared), FakeRollupStore(shared)]
    stores[0].gate = asyncio.Event()
    source = source_of(2, {0: slow, 1: fast})
    aggregator, registry = aggregator_on(stores, source, 20)
    async with running(aggregator):
        await asyncio.wait_for(source.rebalance({0, 1}), timeout=5)
        await until(lambda: stored(shared).get(1) == len(fast), "lane 1 waited for lane 0")
        assert stores[0].open_now == 1 and stores[0].transactions == 0  # still held open
        assert stores[1].transactions >= 3
        stores[0].gate.set()
        await until(lambda: stored(shared).get(0) == len(slow), "lane 0 not written")
    assert sum(shared.events.values()) == len(slow) + len(fast)
    assert registry.get_sample_value("census_aggregator_fenced_flushes_total") == 0


async def test_a_flush_failing_after_another_lane_was_fenced_is_read_again_not_retried() -> None:
    # Lane 1 is fenced (another member stored partition 1's offset) while lane 0's flush is in
    # flight; that flush then fails. Everything is sought again, so retrying it as well would
    # write partition 0's records a second time (fenced, or counted twice).
    first, second = pings(10), pings(10)
    shared = FakeTables()
    failing = _FailsOnceReleased(shared)
    other = FakeRollupStore(shared)
    other.gate = asyncio.Event()
    source = source_of(2, {0: first, 1: second})
    aggregator, registry = aggregator_on([failing, other], source, 20)
    async with running(aggregator):
        await asyncio.wait_for(source.rebalance({0, 1}), timeout=5)
        await until(lambda: failing.held == 1 and other.open_now == 1, "both lanes in flight")
        shared.offsets[(GROUP, TOPIC, 1)] = 4  # the other member counted the first four
        other.gate.set()
        fenced = "census_aggregator_fenced_flushes_total"
        await until(lambda: registry.get_sample_value(fenced) == 1, "lane 1 not fenced")
        failing.release.set()
        await until(lambda: stored(shared) == {0: 10, 1: 10}, "not read again and written")
    assert registry.get_sample_value(fenced) == 1
    assert registry.get_sample_value("census_aggregator_flush_errors_total") == 1
    assert registry.get_sample_value("census_aggregator_duplicate_pings_total") == 0
    assert sum(shared.events.values()) == 10 + 6  # partition 1 from offset 4


class _TurnLog(asyncio.Lock):
    """The turn, noting how many transactions of each store had committed when it was taken."""

    def __init__(self, stores: list[FakeRollupStore]) -> None:
        super().__init__()
        self.stores = stores
        self.taken: list[list[int]] = []

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self.taken.append([s.transactions for s in self.stores])
        return True


async def test_the_turn_is_held_from_the_first_rollup_write_to_the_commit() -> None:
    shared = FakeTables()
    stores = [FakeRollupStore(shared), FakeRollupStore(shared)]
    turn = _TurnLog(stores)
    a, b = pings(10), pings(10)
    claims = [[OffsetClaim(0, None, 10)], [OffsetClaim(1, None, 10)]]
    await asyncio.gather(
        flush_on(stores[0], turn)(claims[0], a),
        flush_on(stores[1], turn)(claims[1], b),
    )
    # The second lane took its turn only after the first had committed.
    assert turn.taken == [[0, 0], [1, 0]]
    assert not turn.locked()
    assert sum(shared.events.values()) == 20


async def test_a_lane_that_fails_is_retried_alone_and_every_record_counts_once() -> None:
    shared = FakeTables()
    first, second = FakeRollupStore(shared), FakeRollupStore(shared)
    records = pings(200)
    source = source_of(4, {p: [r for r in records if r.install_id.int % 4 == p] for p in range(4)})
    second.fail_next = StoreError("ConnectionResetError: gone", retryable=True)
    aggregator, registry = aggregator_on([first, second], source, 40)
    async with running(aggregator):
        await asyncio.wait_for(source.rebalance({0, 1, 2, 3}), timeout=5)
        await until(lambda: sum(stored(shared).values()) == len(records), "offsets not stored")
    assert sum(shared.events.values()) == len(records)  # each once: no lane written twice
    assert registry.get_sample_value("census_aggregator_flush_errors_total") == 1
    assert registry.get_sample_value("census_aggregator_fenced_flushes_total") == 0
    assert first.transactions >= 1 and second.transactions >= 1
