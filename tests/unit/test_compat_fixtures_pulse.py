"""Pulse's real bodies (tests/fixtures/pulse, from internal/telemetry/telemetry.go at its first
public schema and at schema 10) through the ingest app: every key it sends is kept."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from schemas.compat import PULSE_RENAMED
from schemas.record import PingRecord, encode_record
from tests.support import compat as bodies
from tests.support.ingest import FakePublisher, ingest_client, ingest_settings

JSON = {"Content-Type": "application/json"}
ROUTE = "/compat/pulse/v1/telemetry/ping"
ENVELOPE = {"install_id", "event", "version", "platform", "os", "arch", "sent_at"}
SCHEMA10: tuple[tuple[str, str, list[str]], ...] = (
    # fixture, the published version, what is dropped
    ("schema10-heartbeat-every-group.json", "6.3.0", []),
    ("schema10-startup-no-optional-group.json", "6.3.0", []),
    # A git-describe build's version carries build metadata, which no version pattern takes:
    # the version is unknown, the build is still described by version_raw/version_build.
    ("schema10-dev-build.json", "unknown", ["version"]),
)


async def post(data: bytes) -> tuple[int, dict[str, Any], list[PingRecord]]:
    publisher = FakePublisher()
    async with ingest_client(
        ingest_settings(id_secret="fixture-test-secret"), publisher=publisher
    ) as client:
        response = await client.post(ROUTE, data=data, headers=JSON)
        return response.status, await response.json(), publisher.records


def kept(record: PingRecord) -> dict[str, Any]:
    return {**record.attrs, **record.counts}


def census_name(key: str) -> str:
    renamed = PULSE_RENAMED.get(key)
    return renamed.partition(".")[2] if renamed else key


@pytest.mark.parametrize(("name", "version", "dropped"), SCHEMA10)
async def test_schema10_keeps_every_key_pulse_sends(
    name: str, version: str, dropped: list[str]
) -> None:
    data = bodies.fixture("pulse", name)
    sent = json.loads(data)
    status, reply, records = await post(data)
    assert bodies.accepted_dropping(status, reply) == dropped
    (record,) = records
    assert record.version == version
    expected = {census_name(k): v for k, v in sent.items() if k not in ENVELOPE}
    assert kept(record) == expected
    assert record.install_id == uuid.UUID(sent["install_id"])
    assert (record.event, record.platform, record.os, record.arch) == (
        sent["event"],
        sent["platform"],
        sent["os"],
        sent["arch"],
    )


async def test_schema10_every_group_carries_the_closed_codes() -> None:
    _, _, (record,) = await post(bodies.fixture("pulse", "schema10-heartbeat-every-group.json"))
    assert record.counts["schema_version"] == 10
    assert record.attrs["pulse_intelligence_patrol_blocked_cause"] == "provider_not_configured"
    assert record.attrs["update_last_failure_category"] == "checksum"
    assert record.attrs["version_raw"] == "v6.3.0"
    assert len(kept(record)) == 147  # 154 keys sent, 7 of them the envelope
    # The eight keys longer than 64 characters arrive under their shortened Census names.
    renamed = {target.partition(".")[2] for target in PULSE_RENAMED.values()}
    assert renamed <= set(kept(record))
    assert not set(PULSE_RENAMED) & set(kept(record))


@pytest.mark.parametrize(
    ("name", "paid", "tokens", "platform", "arch"),
    [
        ("first-schema-startup-pro.json", True, True, "docker", "amd64"),
        ("first-schema-heartbeat-free.json", False, False, "binary", "arm64"),
    ],
)
async def test_first_schema_maps_tier_and_token_count_to_booleans(
    name: str, paid: bool, tokens: bool, platform: str, arch: str
) -> None:
    data = bodies.fixture("pulse", name)
    sent = json.loads(data)
    status, reply, records = await post(data)
    assert bodies.accepted_dropping(status, reply) == []
    (record,) = records
    assert record.attrs["paid_license"] is paid
    assert record.attrs["has_api_tokens"] is tokens
    assert "license_tier" not in record.attrs and "api_tokens" not in record.counts
    assert b"license_tier" not in encode_record(record)
    assert (record.platform, record.arch) == (platform, arch)
    # Release builds of the first schema send v6.0.0; the reader strips the v.
    assert record.version == "6.0.0"
    expected = {k: v for k, v in sent.items() if k not in ENVELOPE | {"license_tier", "api_tokens"}}
    assert kept(record) == {**expected, "paid_license": paid, "has_api_tokens": tokens}


async def test_first_schema_unknown_tier_sets_nothing_and_newer_booleans_win() -> None:
    sent = json.loads(bodies.fixture("pulse", "first-schema-startup-pro.json"))
    sent.update(license_tier=bodies.HOSTNAME, api_tokens=5, has_api_tokens=False)
    status, reply, records = await post(json.dumps(sent).encode())
    assert status == 202, reply
    (record,) = records
    assert "paid_license" not in record.attrs
    assert record.attrs["has_api_tokens"] is False
    assert bodies.HOSTNAME.encode() not in encode_record(record)


@pytest.mark.parametrize("tokens", [-1, "3", True, 2.5])
async def test_a_wrong_first_schema_token_count_costs_only_itself(tokens: Any) -> None:
    sent = json.loads(bodies.fixture("pulse", "first-schema-startup-pro.json"))
    sent["api_tokens"] = tokens
    status, reply, records = await post(json.dumps(sent).encode())
    assert bodies.accepted_dropping(status, reply) == ["api_tokens"]
    (record,) = records
    assert "has_api_tokens" not in record.attrs and record.attrs["paid_license"] is True
