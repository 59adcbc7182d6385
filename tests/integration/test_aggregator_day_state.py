"""The day state, retries without a ping_id, the bounds and the horizon on the real Kafka and
PostgreSQL: what install_days and the analyst views hold afterwards."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, encode_record, record_key
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.dedup import CLIENT_IDS_KEPT, DERIVED_WINDOW, MAX_PINGS_PER_DAY
from services.aggregator.flush import write_flush
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.aggregator.store import OffsetClaim
from services.common.settings import HorizonSettings, load
from services.ingest.retryid import RetryIds
from services.ingest.validate import parse_ping, to_record
from tests.support.aggregator import drop_database, migrated_database, ping, produce, stored_total
from tests.support.kafka import create_topic, delete_topic, unique_topic
from tests.support.stack import StackEndpoints

CATALOGS = load_catalogs()
KEY = RetryIds("integration-test-secret")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
NOON = NOW.replace(hour=12, minute=0, second=0)


@dataclass
class Db:
    dsn: str
    aggregator_dsn: str


@pytest.fixture
async def db(stack_endpoints: StackEndpoints) -> AsyncIterator[Db]:
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    try:
        yield Db(stack_endpoints.dsn(name), stack_endpoints.dsn(name, user="census_aggregator"))
    finally:
        await drop_database(stack_endpoints.admin_dsn, name)


class Flusher:
    """write_flush on the real store, one partition, offsets following on."""

    def __init__(self, store: PgRollupStore, horizons: HorizonSettings | None = None) -> None:
        self.store = store
        self.offset: int | None = None
        self.horizons = horizons or HorizonSettings()

    async def flush(self, records: list[PingRecord]) -> None:
        claim = OffsetClaim(0, self.offset, (self.offset or 0) + len(records))
        await write_flush(
            self.store,
            CATALOGS,
            group="g",
            topic="t",
            claims=[claim],
            records=records,
            horizons=self.horizons,
        )
        self.offset = claim.next_offset


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_a_beacon_keeps_the_usage_counts_and_an_event_without_os_keeps_the_os(db: Db) -> None:
    install = uuid.uuid4()
    usage = {"event_count": 1200, "subscriber_count": 40}
    records = [
        ping(install, NOON, product="novu", event="usage", os="darwin", counts=usage),
        ping(
            install,
            NOON + dt.timedelta(hours=1),
            product="novu",
            event="beacon",
            os="unknown",
            counts={"free_memory_mb": 900, "total_memory_mb": 8192},
        ),
    ]
    async with PgRollupStore(db.aggregator_dsn, connect_timeout_s=5, statement_timeout_s=30) as s:
        flusher = Flusher(s)
        for record in records:  # one flush each: the second reads the first back from the table
            await flusher.flush([record])
    (row,) = await fetch(db.dsn, "SELECT os, counts, pings FROM install_days")
    assert row["os"] == "darwin"
    assert json.loads(row["counts"]) == {**usage, "free_memory_mb": 900, "total_memory_mb": 8192}
    assert row["pings"] == 2
    counts = await fetch(db.dsn, "SELECT count_key, installs, sum FROM count_distributions")
    assert {r["count_key"]: (r["installs"], int(r["sum"])) for r in counts} == {
        "event_count": (1, 1200),
        "subscriber_count": (1, 40),
        "free_memory_mb": (1, 900),
        "total_memory_mb": (1, 8192),
    }
    active = await fetch(db.dsn, "SELECT os, installs, pings FROM active_installs_daily")
    assert [tuple(r) for r in active] == [("darwin", 1, 2)]


async def test_a_flooding_install_keeps_a_small_row(db: Db) -> None:
    install = uuid.uuid4()
    start = NOW.replace(hour=0, minute=0, second=0)
    records = [
        ping(install, start + dt.timedelta(seconds=i), ping_id=uuid.uuid4(), counts={"vms": i})
        for i in range(2000)
    ]
    async with PgRollupStore(db.aggregator_dsn, connect_timeout_s=5, statement_timeout_s=30) as s:
        flusher = Flusher(s)
        for lo in range(0, len(records), 250):
            await flusher.flush(records[lo : lo + 250])
    (row,) = await fetch(
        db.dsn,
        "SELECT pings, octet_length(ping_ids) AS ids, counts->>'vms' AS vms FROM install_days",
    )
    assert (row["pings"], row["ids"], row["vms"]) == (
        MAX_PINGS_PER_DAY,
        CLIENT_IDS_KEPT * 16,
        str(MAX_PINGS_PER_DAY - 1),
    )
    (events,) = await fetch(db.dsn, "SELECT sum(events) AS n FROM event_outcomes")
    assert events["n"] == MAX_PINGS_PER_DAY


# --- through Kafka: the consumer as deployed ------------------------------------------------


@dataclass
class Pipeline:
    bootstrap: str
    db: Db
    topic: str
    dlq: str

    def settings(self, group: str, **extra: str) -> AggregatorSettings:
        return load(
            AggregatorSettings,
            {
                "CENSUS_KAFKA_BOOTSTRAP": self.bootstrap,
                "CENSUS_KAFKA_TOPIC": self.topic,
                "CENSUS_KAFKA_DLQ_TOPIC": self.dlq,
                "CENSUS_PG_DSN": self.db.aggregator_dsn,
                "CENSUS_AGGREGATOR_GROUP": group,
                "CENSUS_AGGREGATOR_OPS_PORT": "0",
                **extra,
            },
        )

    produced: int = 0

    async def aggregate(self, records: list[PingRecord], **extra: str) -> None:
        """Produce `records`, then run an Aggregator until it has stored every record so far."""
        await produce(
            self.bootstrap, self.topic, [(record_key(r), encode_record(r)) for r in records]
        )
        self.produced += len(records)
        settings = self.settings("census-aggregator", **extra)
        stop = asyncio.Event()
        async with PgRollupStore(settings.pg.dsn, connect_timeout_s=5, statement_timeout_s=30) as s:
            aggregator = Aggregator(
                settings, s, CATALOGS, AggregatorMetrics.create(CollectorRegistry())
            )
            task = asyncio.create_task(aggregator.run(stop))
            try:
                deadline = asyncio.get_running_loop().time() + 90
                while (
                    await stored_total(self.db.dsn, "census-aggregator", self.topic) < self.produced
                ):
                    assert asyncio.get_running_loop().time() < deadline, "not stored within 90 s"
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=60)


@pytest.fixture
async def pipeline(stack_endpoints: StackEndpoints, db: Db) -> AsyncIterator[Pipeline]:
    topic, dlq = unique_topic(), unique_topic("census.test.dlq")
    await create_topic(stack_endpoints.bootstrap, topic, partitions=3)
    await create_topic(stack_endpoints.bootstrap, dlq, partitions=1)
    try:
        yield Pipeline(stack_endpoints.bootstrap, db, topic, dlq)
    finally:
        await delete_topic(stack_endpoints.bootstrap, topic)
        await delete_topic(stack_endpoints.bootstrap, dlq)


def published(body: dict[str, Any], at: dt.datetime) -> PingRecord:
    """What ingest publishes for `body` received at `at` (a client that sends no ping_id)."""
    (checked,) = parse_ping(json.dumps(body).encode(), CATALOGS).pings
    return to_record(checked, at, KEY)


NO_ID_PING = {
    "product": "pulse",
    "install_id": str(uuid.uuid4()),
    "event": "heartbeat",
    "version": "5.1.14",
    "platform": "docker",
    "os": "linux",
    "arch": "amd64",
    "counts": {"vms": 25},
}


async def pings_counted(dsn: str) -> tuple[int, int]:
    (active,) = await fetch(dsn, "SELECT coalesce(sum(pings), 0) AS n FROM active_installs_daily")
    (events,) = await fetch(dsn, "SELECT coalesce(sum(events), 0) AS n FROM event_outcomes")
    return int(active["n"]), int(events["n"])


async def test_a_retry_without_ping_id_counts_once_and_the_same_content_later_twice(
    pipeline: Pipeline,
) -> None:
    t0 = NOW.replace(hour=1, minute=0, second=0)
    original, retry = (
        published(NO_ID_PING, t0),
        published(NO_ID_PING, t0 + dt.timedelta(seconds=30)),
    )
    assert original.id_derived and original.ping_id == retry.ping_id
    # The 503's record reached Kafka after the client's retry (nothing was acknowledged).
    await pipeline.aggregate([retry, original])
    assert await pings_counted(pipeline.db.dsn) == (1, 1)
    later = published(NO_ID_PING, t0 + dt.timedelta(seconds=30) + DERIVED_WINDOW * 2)
    await pipeline.aggregate([later])
    assert await pings_counted(pipeline.db.dsn) == (2, 2)
    (row,) = await fetch(pipeline.db.dsn, "SELECT octet_length(retry_ids) AS n FROM install_days")
    assert row["n"] == 20  # one id, its last sighting; the first sighting left the window
    # A retry of that one in a later flush: only the stored row knows it; its sighting moves on.
    await pipeline.aggregate([published(NO_ID_PING, later.received_at + dt.timedelta(minutes=8))])
    assert await pings_counted(pipeline.db.dsn) == (2, 2)
    await pipeline.aggregate([published(NO_ID_PING, later.received_at + dt.timedelta(minutes=16))])
    assert await pings_counted(pipeline.db.dsn) == (2, 2)  # within 10 minutes of the last retry


async def test_a_record_before_the_horizon_creates_no_install_partition(pipeline: Pipeline) -> None:
    install = uuid.uuid4()
    old_day = NOW.date() - dt.timedelta(days=40)
    old = ping(install, NOW - dt.timedelta(days=40), event="heartbeat", counts={"vms": 1})
    today = ping(install, NOW, event="heartbeat")
    await pipeline.aggregate([old, today], CENSUS_RETENTION_INSTALL_DAYS="30")
    parts = {
        table: {
            r["day"]
            for r in await fetch(
                pipeline.db.dsn,
                "SELECT generate_series(lower_day, upper_day - 1, interval '1 day')::date AS day"
                " FROM census_partition_bounds($1) WHERE NOT is_default",
                table,
            )
        }
        for table in ("install_days", "rollup_active_installs", "rollup_events")
    }
    assert old_day not in parts["install_days"]
    assert old_day not in parts["rollup_active_installs"]
    assert old_day in parts["rollup_events"]  # inside the rollup horizon (400 days)
    days = await fetch(pipeline.db.dsn, "SELECT day FROM install_days")
    assert [r["day"] for r in days] == [NOW.date()]
    events = await fetch(pipeline.db.dsn, "SELECT day, events FROM event_outcomes ORDER BY day")
    assert [(r["day"], r["events"]) for r in events] == [(old_day, 1), (NOW.date(), 1)]
