"""/compat/* against the real Kafka and PostgreSQL: one body per product through `create_app` and
the KafkaPublisher lands on the topic as the expected records, the aggregator turns them into the
analyst views, and no identifying marker reaches a Kafka record or a PostgreSQL row."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, decode_record
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.common.settings import KafkaSettings, load
from services.ingest.app import create_app, kafka_problem, runner_options
from tests.support import compat as bodies
from tests.support.aggregator import drop_database, migrated_database, stored_total
from tests.support.ingest import encode, ingest_settings
from tests.support.kafka import create_topic, delete_topic, read_all, unique_topic
from tests.support.stack import StackEndpoints

SECRET = "integration-test-secret"
# One body per route, plus the same failed run reported twice (only the first may count).
SENDS: list[tuple[str, dict[str, Any]]] = [
    (route, make()) for route, make in bodies.ROUTE_BODIES.items()
]
assert SENDS[1][0] == "/compat/proxmox-scripts/telemetry"
_RUN = SENDS[1][1]["random_id"]  # the same session: same install, same partition, in order
SENDS.append(
    (
        "/compat/proxmox-scripts/telemetry",
        bodies.proxmox_body(random_id=_RUN, status="aborted", exit_code=130),
    )
)


@dataclasses.dataclass
class Landed:
    statuses: list[int]
    records: list[tuple[bytes | None, bytes]]
    topic: str


async def _until(check: Any, within_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def landed(stack_endpoints: StackEndpoints, topic: str) -> Landed:
    settings = ingest_settings(
        kafka=KafkaSettings(bootstrap=stack_endpoints.bootstrap, topic=topic, partitions=3),
        id_secret=SECRET,
        rate_per_s=0,
    )
    app = create_app(settings, registry=CollectorRegistry())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(**runner_options(settings))
    statuses: list[int] = []
    try:

        async def ready() -> bool:
            return kafka_problem(app) is None

        await _until(ready, 60, "the ingest producer connected")
        async with aiohttp.ClientSession() as session:
            for route, body in SENDS:
                async with session.post(
                    server.make_url(route),
                    data=encode(body),
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": f"client on {bodies.HOSTNAME}",
                        "X-Forwarded-For": bodies.IP,
                    },
                ) as response:
                    statuses.append(response.status)
    finally:
        await server.close()
    records = await read_all(stack_endpoints.bootstrap, topic, expected=len(SENDS), within_s=30)
    return Landed(statuses, records, topic)


def _by_product(landed: Landed) -> dict[str, list[PingRecord]]:
    out: dict[str, list[PingRecord]] = {}
    for _, value in landed.records:
        record = decode_record(value)
        out.setdefault(record.product, []).append(record)
    return out


async def test_every_product_lands_on_the_topic_as_the_expected_records(landed: Landed) -> None:
    assert landed.statuses == [202] * len(SENDS)
    assert len(landed.records) == len(SENDS)
    for key, value in landed.records:
        assert key == decode_record(value).install_id.bytes
    by_product = _by_product(landed)
    (pulse,) = by_product["pulse"]
    assert pulse.install_id == uuid.UUID(SENDS[0][1]["install_id"])
    assert (pulse.event, pulse.counts["vms"], pulse.attrs["sso_enabled"]) == ("heartbeat", 25, True)
    failed, aborted = by_product["proxmox-scripts"]
    assert (failed.event, aborted.event) == ("install", "install")
    assert failed.ping_id == aborted.ping_id is not None
    assert failed.attrs["error_category"] == "dependency"
    assert aborted.attrs["error_category"] == "user_aborted"
    (flowfuse,) = by_product["flowfuse"]
    assert (flowfuse.attrs["license_type"], flowfuse.counts["users"]) == ("EE", 12)
    beacon, usage = sorted(by_product["novu"], key=lambda r: r.event)
    assert beacon.install_id == usage.install_id  # one Novu instance is one install
    assert (beacon.counts["total_memory_mb"], usage.counts["integration_count"]) == (7821, 3)
    (maestro,) = by_product["maestrohub"]
    assert (maestro.attrs["license_type"], maestro.counts["connections_total"]) == ("trial", 12)


async def test_no_identifying_marker_is_in_any_record(landed: Landed) -> None:
    assert landed.records
    for key, value in landed.records:
        for marker in (*bodies.MARKERS, "client on", "User-Agent"):
            assert marker.encode() not in value, marker
            assert key is None or marker.encode() not in key


@pytest.fixture(scope="module")
async def views_dsn(stack_endpoints: StackEndpoints, landed: Landed) -> AsyncIterator[str]:
    """The aggregator run over the compat topic into a fresh migrated database."""
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    dlq = unique_topic("census.test.dlq")
    await create_topic(stack_endpoints.bootstrap, dlq, partitions=1)
    group = f"compat-{uuid.uuid4().hex[:8]}"
    try:
        settings = load(
            AggregatorSettings,
            {
                "CENSUS_KAFKA_BOOTSTRAP": stack_endpoints.bootstrap,
                "CENSUS_KAFKA_TOPIC": landed.topic,
                "CENSUS_KAFKA_DLQ_TOPIC": dlq,
                "CENSUS_KAFKA_PARTITIONS": "3",
                "CENSUS_PG_DSN": stack_endpoints.dsn(name, user="census_aggregator"),
                "CENSUS_AGGREGATOR_GROUP": group,
                "CENSUS_AGGREGATOR_OPS_PORT": "0",
            },
        )
        stop = asyncio.Event()
        async with PgRollupStore(
            settings.pg.dsn, connect_timeout_s=5, statement_timeout_s=30
        ) as store:
            aggregator = Aggregator(
                settings, store, load_catalogs(), AggregatorMetrics.create(CollectorRegistry())
            )
            task = asyncio.create_task(aggregator.run(stop))
            try:

                async def stored() -> bool:
                    total = await stored_total(stack_endpoints.dsn(name), group, landed.topic)
                    return total >= len(SENDS)

                await _until(stored, 90, "the aggregator stored every compat record")
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=60)
        yield stack_endpoints.dsn(name)
    finally:
        await delete_topic(stack_endpoints.bootstrap, dlq)
        await drop_database(stack_endpoints.admin_dsn, name)


async def test_the_analyst_views_hold_the_mapped_values(views_dsn: str) -> None:
    conn = await asyncpg.connect(views_dsn)
    try:
        active = {
            (r["product"], r["version"]): r["installs"]
            for r in await conn.fetch("SELECT * FROM active_installs_daily")
        }
        assert active == {
            ("pulse", "5.1.14"): 1,
            ("proxmox-scripts", "8.3.2"): 1,
            ("flowfuse", "2.6.1"): 1,
            ("novu", "unknown"): 1,
            ("maestrohub", "2.2.0"): 1,
        }
        installs = await conn.fetch(
            "SELECT dimensions, events FROM event_outcomes"
            " WHERE product = 'proxmox-scripts' AND event = 'install'"
        )
        # The run reported failed, then aborted: one install outcome, the first one.
        assert [r["events"] for r in installs] == [1]
        assert '"failed"' in installs[0]["dimensions"]
        counts = {
            (r["product"], r["count_key"]): r["sum"]
            for r in await conn.fetch("SELECT * FROM count_distributions")
        }
        assert counts[("flowfuse", "users")] == 12
        assert counts[("novu", "integration_providers")] == 2
        assert counts[("maestrohub", "connections_total")] == 12
        adoption = {
            (r["product"], r["attr"], r["value"])
            for r in await conn.fetch("SELECT * FROM feature_adoption")
        }
        assert ("flowfuse", "license_type", "EE") in adoption
        assert ("maestrohub", "license_type", "trial") in adoption
    finally:
        await conn.close()


async def test_no_identifying_marker_is_in_any_table(views_dsn: str) -> None:
    conn = await asyncpg.connect(views_dsn)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        dumped = 0
        for table in tables:
            for row in await conn.fetch(f'SELECT t::text AS row FROM "{table}" t'):
                dumped += 1
                for marker in bodies.MARKERS:
                    assert marker not in row["row"], (table, marker)
        assert dumped > 0
    finally:
        await conn.close()
