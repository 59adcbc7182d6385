"""The /compat/* routes through the real app with the fake publisher: what each product's body
becomes, that nothing identifying is published, and that the status rules are /v1/ping's."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from schemas.ping import Ping
from schemas.record import SCHEMA_VERSION, PingRecord, encode_record
from services.common.settings import SettingsError, load
from services.ingest.compat.common import keyed_uuid
from services.ingest.config import IngestSettings
from services.ingest.retryid import RetryIds
from tests.support import compat as bodies
from tests.support.ingest import FakeClock, FakePublisher, encode, ingest_client, ingest_settings

JSON = {"Content-Type": "application/json"}
PULSE = "/compat/pulse/v1/telemetry/ping"
PROXMOX = "/compat/proxmox-scripts/telemetry"
FLOWFUSE = "/compat/flowfuse/ping"
BEACON = "/compat/novu/beacon"
USAGE = "/compat/novu/usage"
MAESTRO = "/compat/maestrohub/report"
SECRET = "unit-test-secret"
SETTINGS = ingest_settings(id_secret=SECRET)


async def post(
    route: str, body: Any, *, publisher: FakePublisher | None = None, raw: bool = False
) -> tuple[int, dict[str, Any], FakePublisher]:
    publisher = publisher or FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        data = body if raw else encode(body)
        response = await client.post(route, data=data, headers=JSON)
        return response.status, await response.json(), publisher


def assert_no_marker(records: list[PingRecord]) -> None:
    for record in records:
        wire = encode_record(record)
        for marker in bodies.MARKERS:
            assert marker.encode() not in wire, marker


def as_ping(record: PingRecord) -> Ping:
    """The canonical ping a record was made from (without the id ingest derived)."""
    fields = {name: getattr(record, name) for name in Ping.__struct_fields__}
    return Ping(**{**fields, "ping_id": None})


def hashed(product: str, raw: str) -> uuid.UUID:
    return keyed_uuid(SECRET.encode(), product, "install", raw)


# --- one realistic body per product ---------------------------------------------------------


async def test_pulse_ping_becomes_the_canonical_record() -> None:
    body = bodies.pulse_body()
    status, reply, publisher = await post(PULSE, body)
    assert status == 202
    assert bodies.accepted_dropping(status, reply) == ["pulse_intelligence_patrol_tokens_30d"]
    (record,) = publisher.records
    assert record.id_derived  # Pulse sends no ping id: ingest derives one from the content
    assert record == PingRecord(
        schema=SCHEMA_VERSION,
        received_at=dt.datetime.fromtimestamp(FakeClock().now, dt.UTC),
        ping_id=RetryIds(SECRET).derive(as_ping(record)),
        id_derived=True,
        product="pulse",
        install_id=uuid.UUID(body["install_id"]),
        event="heartbeat",
        version="5.1.14",
        platform="docker",
        os="linux",
        arch="amd64",
        sent_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
        attrs={
            "version_raw": "v5.1.14",
            "deployment_method": "docker_compose",
            "version_channel": "stable",
            "ai_enabled": False,
            "relay_enabled": False,
            "sso_enabled": True,
            "multi_tenant": False,
            "paid_license": False,
            "has_api_tokens": True,
        },
        counts={
            "schema_version": 4,
            "pve_nodes": 3,
            "pbs_instances": 1,
            "pmg_instances": 0,
            "vms": 25,
            "containers": 12,
            "docker_hosts": 2,
            "kubernetes_clusters": 0,
            "active_alerts": 4,
        },
    )
    assert b"pulse_intelligence_patrol_tokens_30d" not in encode_record(record)


async def test_proxmox_failed_run_becomes_an_install_event_with_derived_category() -> None:
    body = bodies.proxmox_body()
    status, reply, publisher = await post(PROXMOX, body)
    assert status == 202
    assert bodies.accepted_dropping(status, reply) == ["error", "repo_slug"]
    (record,) = publisher.records
    assert (record.event, record.version, record.platform, record.os, record.arch) == (
        "install",
        "8.3.2",
        "pve",  # no `platform` in this report: pve_version says it
        "debian",
        "amd64",
    )
    assert record.install_id == uuid.UUID(body["random_id"])
    assert record.ping_id == keyed_uuid(
        SECRET.encode(), "proxmox-scripts", "execution", bodies.EXECUTION, "terminal"
    )
    assert record.attrs["status"] == "failed"
    assert record.attrs["error_category"] == "dependency"  # exit code 100: APT
    assert record.attrs["ct_type"] == "1" and record.attrs["repo_source"] == "external"
    assert record.counts == {
        "disk_size": 8,
        "core_count": 2,
        "ram_size": 2048,
        "ram_speed": 2666,
        "install_duration": 312,
        "exit_code": 100,
    }
    assert_no_marker(publisher.records)


async def test_flowfuse_ping_keeps_the_license_type_and_drops_its_id() -> None:
    body = bodies.flowfuse_body()
    status, reply, publisher = await post(FLOWFUSE, body)
    assert status == 202
    assert bodies.accepted_dropping(status, reply) == ["platform.license.id"]
    (record,) = publisher.records
    assert record.install_id == uuid.UUID(body["instanceId"])
    assert (record.event, record.version, record.platform, record.os, record.arch) == (
        "ping",
        "2.6.1",
        "docker",
        "linux",  # os.type() "Linux" under its Go name
        "amd64",  # os.arch() "x64"
    )
    assert record.attrs == {
        "nodejs_version": "v20.11.1",
        "os_release": "6.1.0-18-amd64",
        "driver": "docker",
        "broker_enabled": True,
        "file_store_enabled": False,
        "email_enabled": True,
        "license_type": "EE",
    }
    assert record.counts["projects_suspended"] == 2
    assert record.counts["project_snapshots"] == 40
    assert record.counts["shared_library_entries"] == 0
    assert_no_marker(publisher.records)


async def test_novu_beacon_converts_memory_and_drops_hostname_and_address() -> None:
    status, reply, publisher = await post(BEACON, bodies.novu_beacon_body())
    assert status == 202
    assert bodies.accepted_dropping(status, reply) == ["hostname", "ipAddress"]
    (record,) = publisher.records
    assert record.install_id == hashed("novu", bodies.NOVU_INSTANCE)
    assert (record.event, record.os) == ("beacon", "linux")
    assert record.attrs == {"os_release": "6.5.0-1017-aws"}
    assert record.counts == {"free_memory_mb": 1100, "total_memory_mb": 7821}
    assert record.sent_at == dt.datetime.fromtimestamp(1_790_000_000, dt.UTC)
    assert_no_marker(publisher.records)


async def test_novu_usage_sums_integrations_and_counts_providers() -> None:
    status, reply, publisher = await post(USAGE, bodies.novu_usage_body())
    assert status == 202
    assert bodies.accepted_dropping(status, reply) == ["integrationCount.providerId"]
    (record,) = publisher.records
    assert record.install_id == hashed("novu", bodies.NOVU_INSTANCE)  # same install as beacon
    assert record.event == "usage"
    assert record.counts == {
        "event_count": 1520,
        "org_count": 1,
        "subscriber_count": 950,
        "topic_count": 3,
        "total_steps": 10,
        "user_count": 3,
        "workflow_count": 6,
        "integration_count": 3,
        "integration_providers": 2,
    }
    assert_no_marker(publisher.records)


async def test_maestrohub_report_keeps_totals_and_drops_every_identifier() -> None:
    status, reply, publisher = await post(MAESTRO, bodies.maestrohub_body())
    assert status == 202
    assert reply["dropped_fields"] == [
        "license.id",
        "hostname",
        "public_ip",
        "admin_email",
        "country",
        "city",
    ]
    (record,) = publisher.records
    assert record.install_id == hashed("maestrohub", bodies.MAESTRO_INSTANCE)
    assert (record.event, record.version, record.os, record.arch) == (
        "report",
        "2.2.0",
        "linux",
        "arm64",
    )
    assert record.attrs == {
        "license_type": "trial",
        "uns_mqtt_mode": "embedded",
        "uns_storage_mode": "pebble",
    }
    assert record.counts["connections_total"] == 12  # summed from by_type
    assert record.counts["nodes_total"] == 57  # the declared total wins
    assert record.counts["executions_failure"] == 50
    wire = encode_record(record)
    for secret in (b"Munich", b"opcua", b"trigger.manual"):
        assert secret not in wire
    assert_no_marker(publisher.records)


# --- identifiers ------------------------------------------------------------------------------


async def test_a_non_uuid_install_id_is_replaced_by_a_stable_keyed_hash() -> None:
    publisher = FakePublisher()
    for _ in range(2):
        status, _, _ = await post(PULSE, bodies.pulse_body(install_id="db-01"), publisher=publisher)
        assert status == 202
    first, second = publisher.records
    assert first.install_id == second.install_id == hashed("pulse", "db-01")
    assert first.install_id.version == 8
    other = keyed_uuid(b"another secret", "pulse", "install", "db-01")
    assert other != first.install_id
    assert b"db-01" not in encode_record(first)


async def test_proxmox_tool_report_with_a_non_uuid_random_id_is_hashed() -> None:
    body = bodies.proxmox_body(random_id="tool-1790000000", execution_id="tool-1790000000")
    for name in ("ct_type", "disk_size", "core_count", "ram_size", "arch", "cpu_model"):
        del body[name]
    body.update(type="pve", nsapp="post-pve-install", status="success", exit_code=0, error="")
    status, _, publisher = await post(PROXMOX, body)
    assert status == 202
    (record,) = publisher.records
    assert record.install_id == hashed("proxmox-scripts", "tool-1790000000")
    assert "error_category" not in record.attrs  # success: no category
    assert record.arch == "unknown"


async def test_only_the_first_terminal_status_of_a_run_counts() -> None:
    publisher = FakePublisher()
    for status_ in ("installing", "configuring", "failed", "aborted"):
        status, _, _ = await post(PROXMOX, bodies.proxmox_body(status=status_), publisher=publisher)
        assert status == 202
    installing, configuring, failed, aborted = publisher.records
    assert (installing.event, configuring.event) == ("progress", "progress")
    assert (failed.event, aborted.event) == ("install", "install")
    assert failed.ping_id == aborted.ping_id  # the aggregator counts one ping_id once
    assert len({installing.ping_id, configuring.ping_id, failed.ping_id}) == 3


# --- bash repairs and malformed bodies --------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "by", "counts"),
    [
        (b'"disk_size": 8', b'"disk_size": 32G', {"disk_size": 32}),
        (b'"ram_size": 2048', b'"ram_size": "4G"', {"ram_size": 4096}),
        (b'"ram_size": 2048', b'"ram_size": 2048M', {"ram_size": 2048}),
        (b'"core_count": 2', b'"core_count": "2"', {"core_count": 2}),
        (b'"nsapp": "jellyfin"', b'"nsapp": "jelly\x1b[0mfin\t"', {}),
    ],
)
async def test_bash_breakage_is_repaired_where_unambiguous(
    replace: bytes, by: bytes, counts: dict[str, int]
) -> None:
    text = msgspec.json.format(encode(bodies.proxmox_body()), indent=4)
    text = text.replace(b'"ram_speed": "2666"', b'"ram_speed": ""')
    assert replace in text
    status, reply, publisher = await post(PROXMOX, text.replace(replace, by), raw=True)
    assert status == 202, reply
    (record,) = publisher.records
    for key, value in counts.items():
        assert record.counts[key] == value
    assert "ram_speed" not in record.counts


@pytest.mark.parametrize(
    ("replace", "by", "status", "path"),
    [
        (b'"disk_size": 8', b'"disk_size": 32T', 400, "$.disk_size"),
        (b'"disk_size": 8', b'"disk_size": "32M"', 422, "$.disk_size"),
        (b'"disk_size": 8', b'"disk_size": ,', 400, "$"),
        (b'"nsapp": "jellyfin",', b"", 422, "$"),
    ],
)
async def test_malformed_proxmox_reports_get_a_4xx_naming_the_field(
    replace: bytes, by: bytes, status: int, path: str
) -> None:
    text = msgspec.json.format(encode(bodies.proxmox_body()), indent=4)
    assert replace in text
    code, reply, publisher = await post(PROXMOX, text.replace(replace, by), raw=True)
    assert (code, reply["path"]) == (status, path), reply
    assert publisher.records == []


@pytest.mark.parametrize(
    ("replace", "by", "field", "kept"),
    [
        (b'"disk_size": 8', b'"disk_size": 100001', "disk_size", None),
        (b'"core_count": 2', b'"core_count": 257', "core_count", None),
        (b'"ram_size": 2048', b'"ram_size": 1048577', "ram_size", None),
        (b'"exit_code": 100', b'"exit_code": 256', "exit_code", None),
        (b'"install_duration": 312', b'"install_duration": 86401', "install_duration", None),
        (b'"status": "failed"', b'"status": "exploded"', "status", "other"),
        (b'"type": "lxc"', b'"type": "docker"', "type", "other"),
    ],
)
async def test_a_proxmox_value_outside_its_catalog_costs_only_that_field(
    replace: bytes, by: bytes, field: str, kept: str | None
) -> None:
    text = msgspec.json.format(encode(bodies.proxmox_body()), indent=4)
    assert replace in text
    code, reply, publisher = await post(PROXMOX, text.replace(replace, by), raw=True)
    assert field in bodies.accepted_dropping(code, reply)
    (record,) = publisher.records
    assert record.attrs.get(field) == kept and field not in record.counts


@pytest.mark.parametrize(
    ("route", "body", "status", "error", "path"),
    [
        (PULSE, [bodies.pulse_body()], 422, "invalid_ping", "$"),
        (FLOWFUSE, {"os": {"type": "Linux"}}, 422, "invalid_ping", "$"),
        (USAGE, bodies.novu_usage_body(instanceId=None), 422, "invalid_ping", "$.distinct_id"),
    ],
)
async def test_malformed_bodies_get_the_right_4xx_and_nothing_is_published(
    route: str, body: Any, status: int, error: str, path: str
) -> None:
    code, reply, publisher = await post(route, body)
    assert (code, reply["error"], reply["path"]) == (status, error, path), reply
    assert publisher.records == []


def _has(**expected: Any) -> Callable[[PingRecord], bool]:
    """The record's envelope fields are `expected`; `attrs`/`counts` hold `expected`'s entries,
    and a key given as None is absent."""

    def check(record: PingRecord) -> bool:
        for name, want in expected.items():
            if name in ("attrs", "counts"):
                held = getattr(record, name)
                if any(held.get(k) != v for k, v in want.items()):
                    return False
            elif getattr(record, name) != want:
                return False
        return True

    return check


@pytest.mark.parametrize(
    ("route", "body", "field", "check"),
    [
        (PULSE, bodies.pulse_body(event="shutdown"), "event", _has(event="other")),
        (PULSE, bodies.pulse_body(vms=-1), "vms", _has(counts={"vms": None})),
        (PULSE, bodies.pulse_body(pve_nodes=100001), "pve_nodes", _has(counts={"pve_nodes": None})),
        (
            PULSE,
            bodies.pulse_body(ai_enabled="yes"),
            "ai_enabled",
            _has(attrs={"ai_enabled": None}),
        ),
        (PULSE, bodies.pulse_body(os="x" * 33), "os", _has(os="other")),
        (
            FLOWFUSE,
            bodies.flowfuse_body(platform={"license": {"type": "GOLD"}}),
            "platform.license.type",
            _has(attrs={"license_type": "other"}),
        ),
        (
            FLOWFUSE,
            bodies.flowfuse_body(platform={"counts": {"users": "many", "teams": 2}}),
            "platform.counts.users",
            _has(counts={"users": None, "teams": 2}),
        ),
        (
            BEACON,
            bodies.novu_beacon_body(freeMemory=-5),
            "freeMemory",
            _has(counts={"free_memory_mb": None, "total_memory_mb": 7821}),
        ),
        (BEACON, bodies.novu_beacon_body(timestamp=10**18), "timestamp", _has(sent_at=None)),
        (MAESTRO, bodies.maestrohub_body(event="crash"), "event", _has(event="other")),
        (
            MAESTRO,
            bodies.maestrohub_body(license={"type": "perpetual"}),
            "license.type",
            _has(attrs={"license_type": "other"}),
        ),
        (MAESTRO, bodies.maestrohub_body(users=-1), "users", _has(counts={"users": None})),
    ],
)
async def test_a_wrong_optional_field_costs_that_field_never_the_ping(
    route: str, body: Any, field: str, check: Callable[[PingRecord], bool]
) -> None:
    code, reply, publisher = await post(route, body)
    assert field in bodies.accepted_dropping(code, reply)
    assert reply["reasons"][field]
    (record,) = publisher.records
    assert check(record), record


@pytest.mark.parametrize("route", list(bodies.ROUTE_BODIES))
async def test_not_json_is_400(route: str) -> None:
    code, reply, _ = await post(route, b'{"a": 1,, }', raw=True)
    assert (code, reply["error"]) == (400, "invalid_json")
    assert "byte" in reply["reason"]


# --- tolerance of newer clients ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "extra", "dropped"),
    [
        (PULSE, {"brand_new_counter": 3}, "brand_new_counter"),
        (PROXMOX, {"kernel": "6.8.12-4-pve"}, "kernel"),
        (
            FLOWFUSE,
            {"platform": {"counts": {"users": 1, "futureThing": 2}}},
            "platform.counts.futureThing",
        ),
        (BEACON, {"cpus": 8}, "cpus"),
        (
            USAGE,
            {"integrationCount": [{"providerId": "x", "count": 1, "active": True}]},
            "integrationCount.active",
        ),
        (MAESTRO, {"uns": {"topics": 1, "retained": 9}}, "uns.retained"),
    ],
)
async def test_unknown_fields_are_dropped_and_listed_never_rejected(
    route: str, extra: dict[str, Any], dropped: str
) -> None:
    body = bodies.ROUTE_BODIES[route](**extra)
    code, reply, publisher = await post(route, body)
    assert code == 202, reply
    assert dropped in reply["dropped_fields"]
    (record,) = publisher.records
    assert dropped.rsplit(".", 1)[-1].encode() not in encode_record(record)


# --- the same status rules as /v1/ping --------------------------------------------------------

ROUTES = list(bodies.ROUTE_BODIES.items())


@pytest.mark.parametrize(("route", "make"), ROUTES)
async def test_gzip_is_accepted(route: str, make: Callable[[], dict[str, Any]]) -> None:
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        response = await client.post(
            route,
            data=gzip.compress(encode(make())),
            headers={**JSON, "Content-Encoding": "gzip"},
        )
        assert response.status == 202
    assert len(publisher.records) == 1


@pytest.mark.parametrize(("route", "make"), ROUTES)
async def test_wrong_content_type_is_415(route: str, make: Callable[[], dict[str, Any]]) -> None:
    async with ingest_client(SETTINGS) as client:
        response = await client.post(
            route, data=encode(make()), headers={"Content-Type": "text/plain"}
        )
        assert response.status == 415


@pytest.mark.parametrize(("route", "make"), ROUTES)
async def test_too_large_is_413(route: str, make: Callable[[], dict[str, Any]]) -> None:
    settings = ingest_settings(id_secret=SECRET, max_body_bytes=256)
    async with ingest_client(settings) as client:
        body = encode(make()) + b" " * 300
        response = await client.post(route, data=body, headers=JSON)
        assert response.status == 413


@pytest.mark.parametrize(("route", "make"), ROUTES)
async def test_kafka_down_is_503_never_202(route: str, make: Callable[[], dict[str, Any]]) -> None:
    publisher = FakePublisher()
    publisher.down = True
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        response = await client.post(route, data=encode(make()), headers=JSON)
        assert response.status == 503
        assert response.headers["Retry-After"] == str(SETTINGS.retry_after_s)


async def test_rate_limit_is_shared_with_v1_ping() -> None:
    settings = ingest_settings(id_secret=SECRET, rate_per_s=0.001, rate_burst=1)
    async with ingest_client(settings) as client:
        first = await client.post(PULSE, data=encode(bodies.pulse_body()), headers=JSON)
        second = await client.post(BEACON, data=encode(bodies.novu_beacon_body()), headers=JSON)
        assert (first.status, second.status) == (202, 429)
        assert "Retry-After" in second.headers


async def test_requests_are_counted_under_their_fixed_route_label() -> None:
    registry = CollectorRegistry()
    async with ingest_client(SETTINGS, registry=registry) as client:
        await client.post(USAGE, data=encode(bodies.novu_usage_body()), headers=JSON)
    value = registry.get_sample_value(
        "census_ingest_requests_total", {"route": USAGE, "status": "202"}
    )
    assert value == 1


async def test_openapi_lists_the_compat_routes_with_their_own_bodies() -> None:
    async with ingest_client(SETTINGS) as client:
        spec = msgspec.json.decode(await (await client.get("/openapi.json")).read())
    for route in bodies.ROUTE_BODIES:
        post_ = spec["paths"][route]["post"]
        assert {"202", "400", "413", "415", "422", "429", "503"} <= set(post_["responses"])
    schemas = spec["components"]["schemas"]
    assert {"PulseBody", "ProxmoxReport", "FlowFusePing", "NovuBeacon", "NovuUsage"} <= set(schemas)
    assert "NovuEvent" in schemas and "NovuProperties" in schemas
    assert "MaestroHubReport" in schemas and "hostname" in schemas["MaestroHubReport"]["properties"]
    # Tolerant reader: a required field has its shape; an optional one also admits any value
    # (a wrong one is dropped, not refused), its documented shape kept beside.
    report = schemas["MaestroHubReport"]
    assert report["required"] == ["instance_id"]
    assert report["properties"]["instance_id"] == {
        "type": "string",
        "minLength": 1,
        "description": "the product's own install id",
    }
    assert report["properties"]["users"]["anyOf"][-1] == {}


# --- configuration ----------------------------------------------------------------------------


async def test_compat_off_serves_no_compat_route() -> None:
    async with ingest_client(ingest_settings(compat=False)) as client:
        response = await client.post(PULSE, data=encode(bodies.pulse_body()), headers=JSON)
        assert response.status in (404, 405)


def test_an_empty_secret_with_compat_on_refuses_to_start() -> None:
    with pytest.raises(SettingsError) as caught:
        load(IngestSettings, {"CENSUS_INGEST_ID_SECRET": " "})
    assert "CENSUS_INGEST_ID_SECRET" in str(caught.value) and "\n" not in str(caught.value)
    assert load(IngestSettings, {"CENSUS_INGEST_ID_SECRET": "", "CENSUS_INGEST_COMPAT": "false"})
