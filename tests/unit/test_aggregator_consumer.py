"""The consume loop against fakes of Kafka and PostgreSQL: rebalances, refused records, readiness
and the one-source invariant (no servers; the real ones are in tests/integration)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, encode_record, record_key
from services.aggregator.batch import Batch
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.store import OffsetClaim, Source, SourceConflict
from services.aggregator.writer import UNSTORABLE
from services.common.settings import load
from tests.support.aggregator import (
    BASE,
    FakeDeadLetters,
    FakeRollupStore,
    FakeSource,
    FakeTx,
    ping,
    running,
)

CATALOGS = load_catalogs()
GROUP, TOPIC = "g", "census.pings.v1"


def settings(**extra: str) -> AggregatorSettings:
    return load(
        AggregatorSettings,
        {
            "CENSUS_KAFKA_TOPIC": TOPIC,
            "CENSUS_AGGREGATOR_GROUP": GROUP,
            "CENSUS_AGGREGATOR_FLUSH_INTERVAL_S": "0.05",
            "CENSUS_AGGREGATOR_RETRY_MAX_S": "0.2",
            **extra,
        },
    )


class Rig:
    def __init__(self, partitions: int = 2, **extra: str) -> None:
        self.store = FakeRollupStore()
        self.source = FakeSource(partitions)
        self.dead = FakeDeadLetters()
        self.registry = CollectorRegistry()
        self.settings = settings(**extra)

    def aggregator(self, source: FakeSource | None = None, **extra: str) -> Aggregator:
        self.registry = CollectorRegistry()
        return Aggregator(
            settings(**extra) if extra else self.settings,
            self.store,
            CATALOGS,
            AggregatorMetrics.create(self.registry),
            source=source or self.source,
            dead_letters=self.dead,
        )

    def produce(self, records: list[PingRecord], partitions: int = 2) -> None:
        for r in records:
            self.source.append(r.install_id.int % partitions, record_key(r), encode_record(r))

    def stored(self) -> int:
        return sum(o for (g, _, _), o in self.store.tables.offsets.items() if g == GROUP)

    def events(self) -> int:
        return sum(self.store.tables.events.values())

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


async def until(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.01)


async def rebalance(source: FakeSource, partitions: set[int]) -> None:
    """A rebalance, which the loop must let through promptly (it waits for the loop's join)."""
    await asyncio.wait_for(source.rebalance(partitions), timeout=5)


def pings(n: int) -> list[PingRecord]:
    return [ping(uuid.uuid4(), BASE, ping_id=uuid.uuid4()) for _ in range(n)]


async def test_a_revocation_waits_for_the_flush_in_flight_and_nothing_is_orphaned() -> None:
    rig = Rig(CENSUS_AGGREGATOR_BATCH_RECORDS="40")
    records = pings(200)
    rig.produce(records)
    rig.store.gate = asyncio.Event()  # every transaction waits: a slow PostgreSQL
    aggregator = rig.aggregator()
    async with running(aggregator) as task:
        await rebalance(rig.source, {0, 1})
        await until(lambda: rig.store.open_now == 1, "a flush in flight")
        revocation = asyncio.create_task(rebalance(rig.source, {0, 1}))
        await asyncio.sleep(0.1)  # give a wrong loop the chance to hand off another flush
        assert not revocation.done()  # it waits for the flush of the partitions it takes away
        assert rig.store.open_now == 1
        rig.store.gate.set()
        await asyncio.wait_for(revocation, timeout=10)
        await until(lambda: rig.stored() == len(records), "every offset stored")
        assert not task.done()
    assert rig.store.most_open == 1  # never two flushes at once
    assert rig.events() == len(records)  # each counted once: no flush lost, none written twice
    assert rig.metric("census_aggregator_flush_errors_total") == 0


async def test_the_loop_does_not_spin_while_a_flush_is_in_flight() -> None:
    rig = Rig()
    rig.produce(pings(10))
    rig.store.gate = asyncio.Event()
    async with running(rig.aggregator()):
        await rebalance(rig.source, {0, 1})
        await until(lambda: rig.store.open_now == 1, "a flush in flight")
        rig.produce(pings(3))  # the next batch starts and is due long before the flush ends
        before = rig.source.fetches
        await asyncio.sleep(1.0)  # measuring a rate: how often the loop fetched meanwhile
        fetches = rig.source.fetches - before
        rig.store.gate.set()
        await until(lambda: rig.stored() == 13, "all stored")
    assert fetches <= 10  # about one per POLL_S; a spinning loop makes thousands


async def test_a_record_the_database_refuses_goes_to_the_dlq_and_the_rest_is_counted() -> None:
    rig = Rig(partitions=1, CENSUS_AGGREGATOR_BATCH_RECORDS="50")
    good = pings(40)
    bad = [
        ping(uuid.uuid4(), BASE, version="5.0\x00"),
        ping(
            uuid.uuid4(),
            BASE,
            product="proxmox-scripts",
            event="install",
            attrs={"nsapp": "jelly\x00fin"},
        ),
    ]
    records = [*good[:10], bad[0], *good[10:30], bad[1], *good[30:]]
    rig.produce(records, partitions=1)
    async with running(rig.aggregator()) as task:
        await rebalance(rig.source, {0})
        await until(lambda: rig.stored() == len(records), "every offset stored")
        more = pings(5)
        rig.produce(more, partitions=1)
        await until(lambda: rig.stored() == len(records) + 5, "later records counted too")
        assert not task.done()
    assert rig.events() == len(good) + 5
    assert [(d.offset, d.reason) for d in rig.dead.sent] == [(10, UNSTORABLE), (31, UNSTORABLE)]
    assert [d.value for d in rig.dead.sent] == [encode_record(r) for r in bad]
    assert rig.metric("census_aggregator_dlq_records_total", reason=UNSTORABLE) == 2


async def test_readiness_follows_kafka_and_postgresql() -> None:
    rig = Rig()
    rig.produce(pings(10))
    aggregator = rig.aggregator()
    async with running(aggregator):
        assert aggregator.readiness() == "not yet assigned partitions"
        await rebalance(rig.source, {0, 1})
        await until(lambda: aggregator.readiness() is None, "ready")
        rig.source.down = True
        await until(lambda: aggregator.readiness() == "Kafka unreachable", "Kafka down seen")
        rig.source.down = False
        await until(lambda: aggregator.readiness() is None, "ready after Kafka")
        rig.store.down = True
        await until(lambda: aggregator.readiness() == "PostgreSQL unreachable", "PG down seen")
        rig.store.down = False
        await until(lambda: aggregator.readiness() is None, "ready after PostgreSQL")


async def test_a_retried_flush_resumes_after_postgresql_and_counts_once() -> None:
    rig = Rig(CENSUS_AGGREGATOR_BATCH_RECORDS="20")
    records = pings(100)
    rig.produce(records[:50])
    async with running(rig.aggregator()):
        await rebalance(rig.source, {0, 1})
        await until(lambda: rig.stored() == 50, "first half")
        rig.store.down = True
        rig.produce(records[50:])
        await until(lambda: rig.metric("census_aggregator_flush_errors_total") > 0, "a failure")
        rig.store.down = False
        await until(lambda: rig.stored() == 100, "all after PostgreSQL is back")
    assert rig.events() == 100


async def test_an_added_partition_stops_counting() -> None:
    rig = Rig(partitions=2)
    rig.produce(pings(10))
    async with running(rig.aggregator()) as task:
        await rebalance(rig.source, {0, 1})
        await until(lambda: rig.stored() == 10, "counted")
        rig.source.count = 3  # someone added a partition: installs would change owners
        await until(task.done, "the aggregator stopped")
    with pytest.raises(SourceConflict, match="2 partitions"):
        task.result()
    assert rig.store.source == Source(GROUP, TOPIC, 2)


async def test_a_second_group_on_the_same_database_is_refused_before_writing() -> None:
    rig = Rig()
    rig.produce(pings(10))
    async with running(rig.aggregator()):
        await rebalance(rig.source, {0, 1})
        await until(lambda: rig.stored() == 10, "counted")
    other = FakeSource(2)
    for p, messages in rig.source.logs.items():
        for m in messages:
            other.append(p, m.key, m.value)
    async with running(rig.aggregator(other, CENSUS_AGGREGATOR_GROUP="g-other")) as task:
        await rebalance(other, {0, 1})
        await until(task.done, "the second group stopped")
    with pytest.raises(SourceConflict, match="g-other"):
        task.result()
    assert rig.events() == 10
    assert {g for g, _, _ in rig.store.tables.offsets} == {GROUP}


async def test_the_fence_refuses_a_backward_or_standing_offset() -> None:
    store = FakeRollupStore()
    store.tables.offsets[(GROUP, TOPIC, 0)] = 10
    for claim in (OffsetClaim(0, 10, 5), OffsetClaim(0, 10, 10)):
        with pytest.raises(Exception, match="moved"):
            await FakeTx(store.tables).fence(GROUP, TOPIC, [claim])
    await FakeTx(store.tables).fence(GROUP, TOPIC, [OffsetClaim(0, 10, 11)])


def test_a_batch_halves_at_contiguous_offsets_and_drops_what_is_stored() -> None:
    batch = Batch()
    records = pings(5)
    for i, (p, o) in enumerate([(0, 3), (1, 7), (0, 4), (1, 8), (0, 5)]):
        batch.add(p, o, records[i], now=1.0)
    first, second = batch.halves()
    assert first.next_offsets == {0: 4, 1: 8}
    assert second.next_offsets == {0: 6, 1: 9}
    assert second.claims({0: 4, 1: 8}) == [OffsetClaim(0, 4, 6), OffsetClaim(1, 8, 9)]
    rest = batch.after({0: 5, 1: None})
    assert [(p, o) for p, o, *_ in rest.entries] == [(1, 7), (1, 8), (0, 5)]
