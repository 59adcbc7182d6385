"""Flush lanes (services/aggregator/lanes.py) against the fakes: a batch split by partition, its
lanes written at once, their outcomes combined, and the rollups written in turns."""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, encode_record, record_key
from services.aggregator.batch import Batch, DeadLetter
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.flush import FlushResult, write_flush
from services.aggregator.lanes import LanedWriter, combine, split
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.store import OffsetClaim, StoreError
from services.aggregator.writer import BatchWriter, Failed, Fenced, FlushFn, Written
from services.common.settings import HorizonSettings, load
from tests.support.aggregator import (
    BASE,
    FakeDeadLetters,
    FakeRollupStore,
    FakeSource,
    FakeTables,
    ping,
    running,
)

CATALOGS = load_catalogs()
GROUP, TOPIC = "g", "census.pings.v1"


def pings(n: int) -> list[PingRecord]:
    return [ping(uuid.uuid4(), BASE, ping_id=uuid.uuid4()) for _ in range(n)]


def batch_of(
    records: list[PingRecord], partitions: int, start: dict[int, int] | None = None
) -> Batch:
    batch = Batch()
    offsets = [(start or {}).get(p, 0) for p in range(partitions)]
    for r in records:
        p = r.install_id.int % partitions
        batch.add(p, offsets[p], r, 0.0)
        offsets[p] += 1
    return batch


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


def test_split_puts_each_partition_in_one_lane_in_consumption_order() -> None:
    batch = Batch()
    for offset in range(3):
        for partition in range(5):
            batch.add(partition, 10 + offset, None, 1.5)
    batch.dead.append(DeadLetter(3, 11, b"v", b"k", "undecodable"))
    lanes = split(batch, 2)
    assert [sorted(lane.next_offsets) for lane in lanes] == [[0, 2, 4], [1, 3]]
    for lane in lanes:
        for partition in lane.next_offsets:
            offsets = [e[1] for e in lane.entries if e[0] == partition]
            assert offsets == [10, 11, 12]
            assert lane.next_offsets[partition] == 13
        assert lane.started_at == 1.5
    assert [d.partition for d in lanes[1].dead] == [3] and not lanes[0].dead
    assert sum(lane.size for lane in lanes) == batch.size
    empty = split(batch_of([], 1), 3)
    assert all(lane.empty and lane.started_at is None for lane in empty)


def test_combine_is_written_only_when_every_lane_wrote() -> None:
    one = FlushResult(counted=3, duplicates=0, rows_written=9)
    two = FlushResult(counted=2, duplicates=1, rows_written=4)
    written = combine([Written({0: 5}, [one], [], 0.5), Written({1: 7}, [two], [], 1.5)])
    assert written == Written({0: 5, 1: 7}, [one, two], [], 1.5)

    rest = batch_of([], 1)
    rest.add(1, 7, None, 2.0)
    letter = DeadLetter(0, 4, None, None, "unstorable")
    failed = combine([Written({0: 5}, [one], [letter], 0.5), Failed("down", rest, {}, [])])
    assert isinstance(failed, Failed)
    assert failed.reason == "down"
    assert failed.stored == {0: 5}  # the lane that wrote keeps its offsets
    assert failed.rest.entries == rest.entries and failed.rest.next_offsets == {1: 8}
    assert failed.dead == [letter]

    fenced = combine([Fenced([2]), Written({0: 5}, [one], [], 0.5), Fenced([1])])
    assert fenced == Fenced([1, 2])


async def test_lanes_write_at_once_and_count_what_one_lane_counts() -> None:
    records = pings(60)
    shared = FakeTables()
    stores = [FakeRollupStore(shared), FakeRollupStore(shared)]
    gate = asyncio.Event()
    for store in stores:
        store.gate = gate
    turn = asyncio.Lock()
    dead = FakeDeadLetters()
    writer = LanedWriter([BatchWriter(flush_on(s, turn), dead, topic=TOPIC) for s in stores])
    task = asyncio.create_task(writer.write(batch_of(records, 4), {}))
    deadline = asyncio.get_running_loop().time() + 5
    while not all(s.open_now == 1 for s in stores):  # both transactions open at once
        assert asyncio.get_running_loop().time() < deadline, "the lanes did not run at once"
        await asyncio.sleep(0.01)
    gate.set()
    outcome = await asyncio.wait_for(task, 5)
    assert isinstance(outcome, Written)
    assert outcome.stored == {p: sum(r.install_id.int % 4 == p for r in records) for p in range(4)}
    assert [s.transactions for s in stores] == [1, 1]

    alone = FakeRollupStore()
    single = BatchWriter(flush_on(alone), dead, topic=TOPIC)
    assert isinstance(await single.write(batch_of(records, 4), {}), Written)
    assert shared == alone.tables  # the same rows, rollups and offsets as one transaction


async def test_each_lane_reports_only_its_own_partitions_offsets() -> None:
    shared = FakeTables()
    stores = [FakeRollupStore(shared), FakeRollupStore(shared)]
    writer = LanedWriter([BatchWriter(flush_on(s), FakeDeadLetters(), topic=TOPIC) for s in stores])
    records = pings(80)
    outcome = await writer.write(batch_of(records[:40], 4), {})
    assert isinstance(outcome, Written)
    assert outcome.stored == {p: o for (_, _, p), o in shared.offsets.items()}
    # The next batch claims from those offsets. A lane reporting another lane's partitions at
    # the offsets it was handed would move them back, and this flush would be fenced.
    after = await writer.write(batch_of(records[40:], 4, outcome.stored), dict(outcome.stored))
    assert isinstance(after, Written)
    assert after.stored == {p: o for (_, _, p), o in shared.offsets.items()}
    assert sum(shared.events.values()) == 80


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
    settings = load(
        AggregatorSettings,
        {
            "CENSUS_KAFKA_TOPIC": TOPIC,
            "CENSUS_AGGREGATOR_GROUP": GROUP,
            "CENSUS_AGGREGATOR_FLUSH_INTERVAL_S": "0.05",
            "CENSUS_AGGREGATOR_RETRY_MAX_S": "0.2",
            "CENSUS_AGGREGATOR_BATCH_RECORDS": "40",
        },
    )
    shared = FakeTables()
    first, second = FakeRollupStore(shared), FakeRollupStore(shared)
    source = FakeSource(4)
    records = pings(200)
    for r in records:
        source.append(r.install_id.int % 4, record_key(r), encode_record(r))
    second.fail_next = StoreError("ConnectionResetError: gone", retryable=True)
    registry = CollectorRegistry()
    aggregator = Aggregator(
        settings,
        first,
        CATALOGS,
        AggregatorMetrics.create(registry),
        source=source,
        dead_letters=FakeDeadLetters(),
        lane_stores=[second],
    )
    async with running(aggregator):
        await asyncio.wait_for(source.rebalance({0, 1, 2, 3}), timeout=5)
        deadline = asyncio.get_running_loop().time() + 10
        while sum(o for (g, _, _), o in shared.offsets.items() if g == GROUP) < len(records):
            assert asyncio.get_running_loop().time() < deadline, "not every offset stored"
            await asyncio.sleep(0.01)
    assert sum(shared.events.values()) == len(records)  # each once: no lane written twice
    assert registry.get_sample_value("census_aggregator_flush_errors_total") == 1
    assert registry.get_sample_value("census_aggregator_fenced_flushes_total") == 0
    assert first.transactions >= 1 and second.transactions >= 1
