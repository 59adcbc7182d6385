"""/compat/* against the real Kafka and PostgreSQL: one body per route, and every real-client
fixture of tests/fixtures/, through `create_app` and the KafkaPublisher land on the topic as the
expected records, the aggregator turns them into the analyst views with the expected values, and
no identifying marker reaches a Kafka record or a PostgreSQL row."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from schemas.record import PingRecord, decode_record
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.common.settings import KafkaSettings, load
from services.ingest.app import create_app, kafka_problem, runner_options
from services.ingest.compat.common import keyed_uuid
from tests.support import compat as bodies
from tests.support.aggregator import drop_database, migrated_database, stored_total
from tests.support.http import CensusTestServer
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
ROUTE_BODY_SENDS = len(SENDS)
# Then every fixture, on the route the product posts it to.
FIXTURE_ROUTES = {
    "pulse": "/compat/pulse/v1/telemetry/ping",
    "proxmox-scripts": "/compat/proxmox-scripts/telemetry",
    "flowfuse": "/compat/flowfuse/ping",
    "novu": "/compat/novu/telemetry",
}
for _path in sorted(bodies.FIXTURES.glob("*/*.json")):
    _route = FIXTURE_ROUTES[_path.parent.name]
    if _path.name == "documented-beacon.json":
        _route = "/compat/novu/beacon"
    SENDS.append((_route, json.loads(_path.read_bytes())))


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
    server = CensusTestServer(app, host="127.0.0.1", port=0)
    await server.start_server(**runner_options(settings, app))
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
    pulse = next(
        r for r in by_product["pulse"] if r.install_id == uuid.UUID(SENDS[0][1]["install_id"])
    )
    assert (pulse.event, pulse.counts["vms"], pulse.attrs["sso_enabled"]) == ("heartbeat", 25, True)
    failed, aborted = [r for r in by_product["proxmox-scripts"] if r.install_id == uuid.UUID(_RUN)]
    assert (failed.event, aborted.event) == ("install", "install")
    assert failed.ping_id == aborted.ping_id is not None
    assert failed.attrs["error_category"] == "dependency"
    assert aborted.attrs["error_category"] == "user_aborted"
    (flowfuse,) = [r for r in by_product["flowfuse"] if r.version == "2.6.1"]
    assert (flowfuse.attrs["license_type"], flowfuse.counts["users"]) == ("EE", 12)
    novu = keyed_uuid(SECRET.encode(), "novu", "install", bodies.NOVU_INSTANCE)
    wrapped, beacon, usage = [r for r in by_product["novu"] if r.install_id == novu]
    assert wrapped.event == beacon.event == "beacon" and usage.event == "usage"
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
        active: collections.Counter[tuple[str, str]] = collections.Counter()
        platforms: collections.Counter[tuple[str, str]] = collections.Counter()
        for r in await conn.fetch("SELECT * FROM active_installs_daily"):
            active[(r["product"], r["version"])] += r["installs"]
            platforms[(r["product"], r["platform"])] += r["installs"]
        assert active[("pulse", "5.1.14")] == 1
        assert active[("pulse", "6.0.0")] == 2  # the two first-schema fixtures: v6.0.0 sent
        assert active[("pulse", "unknown")] == 1  # the dev build: build metadata in its version
        assert active[("pulse", "6.3.0")] == 2  # schema 10, with and without optional groups
        assert {v: active[("flowfuse", v)] for v in ("0.1.0", "2.6.1", "2.13.2", "2.14.0")} == {
            "0.1.0": 1,
            "2.6.1": 1,
            "2.13.2": 1,
            "2.14.0": 1,
        }
        # The route body's failed+aborted run, and the first TELEMETRY_URL schema's report.
        assert active[("proxmox-scripts", "8.3.2")] == 2
        # LXC session (installing+success), fork, aborted, VM, two tools; the Incus host.
        assert active[("proxmox-scripts", "9.0.10")] == 6
        assert active[("proxmox-scripts", "6.0.4")] == 1
        assert active[("proxmox-scripts", "unknown")] == 1  # the addon: no host facts
        # The route bodies' instance, the machine-id instance, the hostname-ipAddress instance.
        assert active[("novu", "unknown")] == 3
        assert active[("maestrohub", "2.2.0")] == 1
        assert platforms[("proxmox-scripts", "pve")] == 8
        assert platforms[("proxmox-scripts", "incus")] == 1
        assert (platforms[("pulse", "docker")], platforms[("pulse", "binary")]) == (3, 3)
        assert platforms[("flowfuse", "kubernetes")] == platforms[("flowfuse", "localfs")] == 1
        outcomes: collections.Counter[tuple[str, str | None]] = collections.Counter()
        for r in await conn.fetch(
            "SELECT event, dimensions, events FROM event_outcomes WHERE product = 'proxmox-scripts'"
        ):
            outcomes[(r["event"], json.loads(r["dimensions"]).get("status"))] += r["events"]
        # The route body's run reported failed, then aborted: one install outcome, the first.
        assert outcomes[("install", "failed")] == 3  # route body, the fork, the failed tool
        assert outcomes[("install", "aborted")] == 1
        assert outcomes[("install", "success")] == 5  # LXC, Incus, VM, tool, addon
        assert outcomes[("progress", "installing")] == 3  # oldest schema, LXC, VM
        novu_events = {
            r["event"]: r["events"]
            for r in await conn.fetch(
                "SELECT event, sum(events)::int AS events FROM event_outcomes"
                " WHERE product = 'novu' GROUP BY event"
            )
        }
        assert novu_events == {"setup": 2, "beacon": 5, "usage": 3}
        counts = {
            (r["product"], r["count_key"]): r["sum"]
            for r in await conn.fetch("SELECT * FROM count_distributions")
        }
        assert counts[("flowfuse", "users")] == 12 + 2 + 4 + 120 + 1
        assert counts[("flowfuse", "blueprints")] == 0 + 7 + 2
        assert counts[("novu", "integration_providers")] == 2 + 3
        assert counts[("novu", "integration_count")] == 3 + 4  # the null one is not counted
        assert counts[("maestrohub", "connections_total")] == 12
        long_key = "pulse_intelligence_patrol_control_operations_loop_starter_requests_30d"
        sent = [b.get(long_key) for route, b in SENDS if route.startswith("/compat/pulse/")]
        # Kept under its shortened Census name (Census keys are at most 64 characters).
        short = "pulse_intelligence_patrol_control_ops_loop_starter_requests_30d"
        assert counts[("pulse", short)] == sum(v for v in sent if v is not None)
        assert counts[("pulse", "schema_version")] == 4 + 10 + 10 + 10
        adoption = {
            (r["product"], r["attr"], r["value"])
            for r in await conn.fetch("SELECT * FROM feature_adoption")
        }
        assert {
            ("flowfuse", "license_type", "EE"),
            ("flowfuse", "license_type", "CE"),
            ("flowfuse", "license_type", "DEV"),
            ("maestrohub", "license_type", "trial"),
            ("pulse", "paid_license", "true"),
            ("pulse", "paid_license", "false"),
            ("pulse", "pulse_intelligence_patrol_blocked_cause", "provider_not_configured"),
            ("proxmox-scripts", "os_type", "homeassistant"),
            ("proxmox-scripts", "repo_source", "external"),
        } <= adoption
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
