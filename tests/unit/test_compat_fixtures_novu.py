"""Novu's real bodies (tests/fixtures/novu, from its worker's telemetry code) through the ingest
app: each accepted, only the identifying fields dropped, nothing identifying published."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from schemas.record import PingRecord, encode_record
from services.ingest.compat.common import keyed_uuid
from tests.support import compat as bodies
from tests.support.ingest import FakePublisher, ingest_client, ingest_settings

JSON = {"Content-Type": "application/json"}
WRAPPED = "/compat/novu/telemetry"
SECRET = "unit-test-secret"
MACHINE_ID = "5b0e3c1d-7f2a-4c8e-9d61-2a4b6c8e0f13"
FALLBACK_ID = f"{bodies.HOSTNAME}-{bodies.IP}"
MACHINE_DROPPED = ["properties.hostname", "properties.ipAddress"]


async def post(route: str, data: bytes) -> tuple[int, dict[str, Any], list[PingRecord]]:
    publisher = FakePublisher()
    async with ingest_client(ingest_settings(id_secret=SECRET), publisher=publisher) as client:
        response = await client.post(route, data=data, headers=JSON)
        return response.status, await response.json(), publisher.records


def install(raw: str) -> Any:
    return keyed_uuid(SECRET.encode(), "novu", "install", raw)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=dt.UTC)


def assert_nothing_identifying(records: list[PingRecord]) -> None:
    wire = b"".join(encode_record(record) for record in records)
    for marker in (bodies.HOSTNAME, bodies.IP, bodies.PROVIDER, MACHINE_ID, FALLBACK_ID):
        assert marker.encode() not in wire, marker


MACHINE_CASES = [
    (
        "initial-setup.json",
        "setup",
        MACHINE_ID,
        {"free_memory_mb": 1100, "total_memory_mb": 7821},
        "6.5.0-1017-aws",
        utc(2026, 11, 20, 10, ms=123),
    ),
    (
        "regular-beacon.json",
        "beacon",
        MACHINE_ID,
        {"free_memory_mb": 941, "total_memory_mb": 7821},
        "6.5.0-1017-aws",
        utc(2026, 11, 20, 11, ms=7),
    ),
    (
        "initial-setup-fallback-id.json",
        "setup",
        FALLBACK_ID,
        {"free_memory_mb": 610, "total_memory_mb": 3912},
        "6.6.12-linuxkit",
        utc(2026, 11, 20, 9, 59, 58, ms=1),
    ),
    (
        "regular-beacon-fallback-id.json",
        "beacon",
        FALLBACK_ID,
        {"free_memory_mb": 488, "total_memory_mb": 3912},
        "6.6.12-linuxkit",
        utc(2026, 11, 20, 12, ms=500),
    ),
]


@pytest.mark.parametrize(("name", "event", "identity", "counts", "release", "sent"), MACHINE_CASES)
async def test_wrapped_machine_info_is_counted_without_hostname_or_address(
    name: str,
    event: str,
    identity: str,
    counts: dict[str, int],
    release: str,
    sent: dt.datetime,
) -> None:
    status, reply, records = await post(WRAPPED, bodies.fixture("novu", name))
    assert bodies.accepted_dropping(status, reply) == MACHINE_DROPPED
    (record,) = records
    assert record.install_id == install(identity)
    assert (record.event, record.version, record.platform, record.os, record.arch) == (
        event,
        "unknown",
        "unknown",
        "linux",
        "unknown",
    )
    assert record.attrs == {"os_release": release}
    assert record.counts == counts
    assert record.sent_at == sent
    assert_nothing_identifying(records)


async def test_wrapped_user_info_sums_integrations_under_the_same_install() -> None:
    status, reply, records = await post(WRAPPED, bodies.fixture("novu", "user-info.json"))
    assert bodies.accepted_dropping(status, reply) == ["properties.integrationCount.providerId"]
    (record,) = records
    assert record.install_id == install(MACHINE_ID)  # distinct_id: the beacon's install
    assert record.event == "usage"
    assert record.counts == {
        "event_count": 1520,
        "org_count": 1,
        "subscriber_count": 950,
        "topic_count": 3,
        "total_steps": 10,
        "user_count": 3,
        "workflow_count": 6,
        "integration_count": 4,
        "integration_providers": 3,
    }
    assert record.sent_at == utc(2026, 11, 21, ms=42)
    assert_nothing_identifying(records)


async def test_wrapped_user_info_ignores_the_counts_of_failed_queries() -> None:
    status, reply, records = await post(
        WRAPPED, bodies.fixture("novu", "user-info-fallback-id.json")
    )
    assert bodies.accepted_dropping(status, reply) == []
    (record,) = records
    assert record.install_id == install(FALLBACK_ID)
    assert record.counts == {
        "org_count": 1,
        "subscriber_count": 12,
        "topic_count": 0,
        "user_count": 1,
    }
    assert_nothing_identifying(records)


async def test_documented_unwrapped_beacon_with_a_zone_less_timestamp() -> None:
    status, reply, records = await post(
        "/compat/novu/beacon", bodies.fixture("novu", "documented-beacon.json")
    )
    assert bodies.accepted_dropping(status, reply) == ["hostname", "ipAddress"]
    (record,) = records
    assert record.install_id == install(MACHINE_ID)
    assert (record.event, record.os) == ("beacon", "darwin")
    assert record.sent_at == utc(2024, 10, 4, 11, 54, 14)
    assert record.counts == {"free_memory_mb": 110, "total_memory_mb": 16384}
    assert_nothing_identifying(records)


def _wrapped(event: str, **properties: Any) -> bytes:
    return json.dumps({"event": event, "properties": properties}).encode()


async def test_unknown_event_name_is_counted_as_other_and_its_properties_are_not_kept() -> None:
    body = _wrapped(
        "Something New - [OS Telemetry]", distinct_id=MACHINE_ID, secret=bodies.HOSTNAME
    )
    status, reply, records = await post(WRAPPED, body)
    assert bodies.accepted_dropping(status, reply) == ["properties.secret", "event"]
    (record,) = records
    assert (record.event, record.attrs, record.counts) == ("other", {}, {})
    assert record.install_id == install(MACHINE_ID)
    assert_nothing_identifying(records)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (_wrapped("Regular Beacon - [OS Telemetry]", hostname="h"), "$.properties.distinct_id"),
        (_wrapped("User Info - [OS Telemetry]", distinct_id="  "), "$.properties.distinct_id"),
        (json.dumps({"event": "Regular Beacon - [OS Telemetry]"}).encode(), "$"),
        (json.dumps({"properties": {}}).encode(), "$"),
    ],
)
async def test_wrapped_errors_name_the_field_novu_sent(body: bytes, path: str) -> None:
    status, reply, records = await post(WRAPPED, body)
    assert status == 422, reply
    assert reply["path"] == path
    assert records == []


@pytest.mark.parametrize(
    ("body", "field", "absent"),
    [
        (
            _wrapped("Regular Beacon - [OS Telemetry]", distinct_id=MACHINE_ID, freeMemory="x"),
            "properties.freeMemory",
            "free_memory_mb",
        ),
        (
            _wrapped("Regular Beacon - [OS Telemetry]", distinct_id=MACHINE_ID, freeMemory=-1),
            "properties.freeMemory",
            "free_memory_mb",
        ),
        (
            _wrapped(
                "User Info - [OS Telemetry]", distinct_id=MACHINE_ID, userCount=-3, orgCount=1
            ),
            "properties.userCount",
            "user_count",
        ),
        (
            _wrapped(
                "User Info - [OS Telemetry]", distinct_id=MACHINE_ID, timestamp="noon", orgCount=1
            ),
            "properties.timestamp",
            None,
        ),
    ],
)
async def test_a_wrong_property_costs_only_itself(
    body: bytes, field: str, absent: str | None
) -> None:
    status, reply, records = await post(WRAPPED, body)
    assert field in bodies.accepted_dropping(status, reply)
    assert reply["reasons"][field] == "of the wrong type, or out of range: not kept"
    (record,) = records
    assert record.install_id == install(MACHINE_ID)
    if absent is None:
        assert record.sent_at is None
    else:
        assert absent not in record.counts
