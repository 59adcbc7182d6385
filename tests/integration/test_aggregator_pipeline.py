"""The aggregator against the real Kafka and PostgreSQL: views equal an independent ground truth,
and stay exact through replays, kill -9, a member leaving the group and poison records (ones it
cannot decode and ones PostgreSQL refuses); it refuses a topic whose partition count changed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import encode_record, record_key
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import DLQ_REASON_HEADER, Aggregator
from services.aggregator.main import EXIT_SOURCE_CONFLICT, rollup_stores
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.aggregator.store import SourceConflict
from services.common.settings import load
from tests.support.aggregator import (
    drop_database,
    fleet,
    migrated_database,
    ping,
    produce,
    stored_total,
    truth,
    truth_views,
    view_contents,
)
from tests.support.kafka import create_topic, delete_topic, unique_topic
from tests.support.stack import ROOT, StackEndpoints

CATALOGS = load_catalogs()


@dataclass
class Env:
    bootstrap: str
    dsn: str
    aggregator_dsn: str
    topic: str
    dlq_topic: str

    def settings(self, group: str, **extra: str) -> AggregatorSettings:
        return load(AggregatorSettings, self.environ(group, **extra))

    def environ(self, group: str, **extra: str) -> dict[str, str]:
        return {
            "CENSUS_KAFKA_BOOTSTRAP": self.bootstrap,
            "CENSUS_KAFKA_TOPIC": self.topic,
            "CENSUS_KAFKA_DLQ_TOPIC": self.dlq_topic,
            "CENSUS_KAFKA_PARTITIONS": "3",
            "CENSUS_PG_DSN": self.aggregator_dsn,
            "CENSUS_AGGREGATOR_GROUP": group,
            "CENSUS_AGGREGATOR_OPS_PORT": "0",
            **extra,
        }


@pytest.fixture
async def env(stack_endpoints: StackEndpoints) -> AsyncIterator[Env]:
    """A fresh migrated database and fresh topics for one test."""
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    topic, dlq = unique_topic(), unique_topic("census.test.dlq")
    await create_topic(stack_endpoints.bootstrap, topic, partitions=3)
    await create_topic(stack_endpoints.bootstrap, dlq, partitions=1)
    try:
        yield Env(
            stack_endpoints.bootstrap,
            stack_endpoints.dsn(name),
            stack_endpoints.dsn(name, user="census_aggregator"),
            topic,
            dlq,
        )
    finally:
        await delete_topic(stack_endpoints.bootstrap, topic)
        await delete_topic(stack_endpoints.bootstrap, dlq)
        await drop_database(stack_endpoints.admin_dsn, name)


async def until(condition: Callable[[], Awaitable[bool]], *, within_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.1)


async def run_in_process(env: Env, group: str, total: int, **extra: str) -> None:
    """Run an Aggregator in this process until its stored offsets cover `total` records."""
    settings = env.settings(group, **extra)
    stop = asyncio.Event()
    async with rollup_stores(settings) as (store, *lane_stores):
        aggregator = Aggregator(
            settings,
            store,
            CATALOGS,
            AggregatorMetrics.create(CollectorRegistry()),
            lane_stores=lane_stores,
        )
        task = asyncio.create_task(aggregator.run(stop))
        try:
            await until(
                lambda: _reached(env, group, total), within_s=90, what=f"{total} records stored"
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=60)


async def _reached(env: Env, group: str, total: int) -> bool:
    return await stored_total(env.dsn, group, env.topic) >= total


def spawn(env: Env, group: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "aggregate"],
        cwd=ROOT,
        env={**os.environ, **env.environ(group, **extra)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


@pytest.mark.parametrize("lanes", ["1", "2", "3"])
async def test_views_equal_ground_truth_and_replays_change_nothing(env: Env, lanes: str) -> None:
    records = fleet(1, installs=300, days=9, pings=4000)
    await produce(env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records])
    group = f"agg-{uuid.uuid4().hex[:8]}"
    await run_in_process(
        env,
        group,
        len(records),
        CENSUS_AGGREGATOR_BATCH_RECORDS="700",
        CENSUS_AGGREGATOR_FLUSH_LANES=lanes,
    )
    expected = truth_views(truth(records, CATALOGS))
    first = await view_contents(env.dsn)
    assert first == expected

    # The same group again: it resumes at PostgreSQL's offsets, so nothing is counted twice.
    await run_in_process(env, group, len(records))
    assert await view_contents(env.dsn) == expected

    # The same pings produced a second time (retries with the same ping_id): counted once.
    await produce(env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records])
    await run_in_process(env, group, 2 * len(records))
    assert await view_contents(env.dsn) == expected


async def test_kill_9_mid_stream_and_restart_is_exact(env: Env) -> None:
    records = fleet(2, installs=400, days=3, pings=20000, retries=0.02)
    await produce(env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records])
    group = f"agg-{uuid.uuid4().hex[:8]}"
    first = spawn(env, group, CENSUS_AGGREGATOR_BATCH_RECORDS="300")
    try:
        await until(
            lambda: _between(env, group, 1, len(records) // 2),
            within_s=60,
            what="some but not all records stored",
        )
    finally:
        stop_process(first, signal.SIGKILL)
    assert await stored_total(env.dsn, group, env.topic) < len(records)
    second = spawn(env, group, CENSUS_AGGREGATOR_BATCH_RECORDS="300")
    try:
        await until(lambda: _reached(env, group, len(records)), within_s=120, what="all stored")
    finally:
        assert stop_process(second) == 0
    assert await view_contents(env.dsn) == truth_views(truth(records, CATALOGS))


async def _between(env: Env, group: str, low: int, high: int) -> bool:
    return low <= await stored_total(env.dsn, group, env.topic) <= high


async def test_two_members_one_stopped_mid_stream_is_exact(env: Env) -> None:
    records = fleet(3, installs=400, days=2, pings=15000, retries=0.02)
    group = f"agg-{uuid.uuid4().hex[:8]}"
    a = spawn(env, group, CENSUS_AGGREGATOR_BATCH_RECORDS="200")
    b = spawn(env, group, CENSUS_AGGREGATOR_BATCH_RECORDS="200")
    try:
        half = len(records) // 2
        await produce(
            env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records[:half]]
        )
        await until(lambda: _between(env, group, 1, half), within_s=60, what="progress")
        assert stop_process(a) == 0
        await produce(
            env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records[half:]]
        )
        await until(lambda: _reached(env, group, len(records)), within_s=120, what="all stored")
    finally:
        stop_process(a, signal.SIGKILL)
        assert stop_process(b) == 0
    assert await view_contents(env.dsn) == truth_views(truth(records, CATALOGS))


async def test_poison_records_go_to_the_dlq_and_the_rest_is_counted(env: Env) -> None:
    good = fleet(4, installs=50, days=2, pings=500)
    unknown = ping(uuid.uuid4(), good[0].received_at, product="no-such-product")
    values = [(record_key(r), encode_record(r)) for r in good]
    values.insert(10, (b"k1", b"\xc1 not msgpack"))
    values.insert(200, (record_key(unknown), encode_record(unknown)))
    await produce(env.bootstrap, env.topic, values)
    group = f"agg-{uuid.uuid4().hex[:8]}"
    await run_in_process(env, group, len(values))
    assert await view_contents(env.dsn) == truth_views(truth(good, CATALOGS))

    letters = await dead_letters(env, expected=2)
    reasons = sorted(dict(m.headers)[DLQ_REASON_HEADER].decode() for m in letters)
    assert reasons == ["undecodable", "unknown_product"]
    assert {m.value for m in letters} == {values[10][1], values[200][1]}


async def dead_letters(env: Env, *, expected: int) -> list[Any]:
    """The DLQ topic's records, read until `expected` arrived (or 20 s passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[Any] = []
    try:
        consumer.assign([TopicPartition(env.dlq_topic, 0)])
        await consumer.seek_to_beginning()
        deadline = asyncio.get_running_loop().time() + 20
        while len(letters) < expected and asyncio.get_running_loop().time() < deadline:
            dead = await consumer.getmany(timeout_ms=1000)
            letters.extend(m for ms in dead.values() for m in ms)
    finally:
        await consumer.stop()
    return letters


async def test_a_nul_in_a_string_is_dead_lettered_and_counting_goes_on(env: Env) -> None:
    """Issue item 1: PostgreSQL refuses a NUL character in text and in jsonb. Produced straight
    to the topic (ingest refuses such strings), the records go to the DLQ and nothing stops."""
    good = fleet(6, installs=60, days=2, pings=600)
    bad = [
        ping(uuid.uuid4(), good[0].received_at, version="5.0.0\x00"),
        ping(
            uuid.uuid4(),
            good[0].received_at,
            product="proxmox-scripts",
            event="install",
            version="2025.1",
            platform="pve",
            attrs={"nsapp": "jelly\x00fin", "status": "success", "type": "lxc"},
        ),
    ]
    values = [(record_key(r), encode_record(r)) for r in good]
    values.insert(50, (record_key(bad[0]), encode_record(bad[0])))
    values.insert(400, (record_key(bad[1]), encode_record(bad[1])))
    later = fleet(7, installs=20, days=1, pings=100)
    await produce(env.bootstrap, env.topic, values)
    group = f"agg-{uuid.uuid4().hex[:8]}"
    settings = env.settings(group, CENSUS_AGGREGATOR_BATCH_RECORDS="250")
    registry = CollectorRegistry()
    stop = asyncio.Event()
    async with PgRollupStore(settings.pg.dsn, connect_timeout_s=5, statement_timeout_s=30) as store:
        aggregator = Aggregator(settings, store, CATALOGS, AggregatorMetrics.create(registry))
        task = asyncio.create_task(aggregator.run(stop))
        try:
            await until(
                lambda: _reached(env, group, len(values)), within_s=90, what="all offsets stored"
            )
            assert not task.done()
            await produce(
                env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in later]
            )
            await until(
                lambda: _reached(env, group, len(values) + len(later)),
                within_s=60,
                what="later records counted",
            )
            assert not task.done()
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=60)
    assert await view_contents(env.dsn) == truth_views(truth(good + later, CATALOGS))
    letters = await dead_letters(env, expected=2)
    assert sorted(dict(m.headers)[DLQ_REASON_HEADER].decode() for m in letters) == [
        "unstorable",
        "unstorable",
    ]
    assert {m.value for m in letters} == {encode_record(r) for r in bad}
    assert (
        registry.get_sample_value("census_aggregator_dlq_records_total", {"reason": "unstorable"})
        == 2
    )


async def test_a_changed_partition_count_is_refused(env: Env) -> None:
    """Issue item 9: adding partitions moves installs to other partitions, and so to other
    writers; the aggregator stops (while running) and refuses to start against such a topic."""
    records = fleet(8, installs=50, days=1, pings=300)
    await produce(env.bootstrap, env.topic, [(record_key(r), encode_record(r)) for r in records])
    group = f"agg-{uuid.uuid4().hex[:8]}"
    settings = env.settings(group)
    stop = asyncio.Event()
    async with rollup_stores(settings) as (store, *lane_stores):
        aggregator = Aggregator(
            settings,
            store,
            CATALOGS,
            AggregatorMetrics.create(CollectorRegistry()),
            lane_stores=lane_stores,
        )
        task = asyncio.create_task(aggregator.run(stop))
        try:
            await until(lambda: _reached(env, group, len(records)), within_s=90, what="counted")
            admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
            await admin.start()
            try:
                await admin.create_partitions({env.topic: NewPartitions(total_count=4)})
            finally:
                await admin.close()

            async def stopped() -> bool:
                return task.done()

            await until(stopped, within_s=120, what="the running aggregator refuses 4 partitions")
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=60)
    with pytest.raises(SourceConflict, match="3 partitions"):
        task.result()

    process = spawn(env, group)
    try:
        code = process.wait(timeout=90)
    finally:
        stop_process(process, signal.SIGKILL)
    assert process.stderr is not None
    assert code == EXIT_SOURCE_CONFLICT
    assert b"refusing to count" in process.stderr.read()
    assert await stored_total(env.dsn, group, env.topic) == len(records)
