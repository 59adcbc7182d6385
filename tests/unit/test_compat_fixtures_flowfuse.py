"""FlowFuse's real bodies (tests/fixtures/flowfuse, from telemetryMetrics/*.js at its first public
schema and now, CE, EE and DEV) through the ingest app: every count it sends is kept."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from schemas.record import PingRecord, encode_record
from tests.support import compat as bodies
from tests.support.ingest import FakePublisher, ingest_client, ingest_settings

JSON = {"Content-Type": "application/json"}
ROUTE = "/compat/flowfuse/ping"
COUNTS = {
    "users": "users",
    "teams": "teams",
    "projects": "projects",
    "devices": "devices",
    "projectSnapshots": "project_snapshots",
    "projectTemplates": "project_templates",
    "projectStacks": "project_stacks",
    "libraryEntries": "library_entries",
    "blueprints": "blueprints",
    "sharedLibraryEntries": "shared_library_entries",
    "teamBrokerClients": "team_broker_clients",
    "remoteBrokers": "remote_brokers",
}


async def post(data: bytes) -> tuple[int, dict[str, Any], list[PingRecord]]:
    publisher = FakePublisher()
    async with ingest_client(
        ingest_settings(id_secret="fixture-test-secret"), publisher=publisher
    ) as client:
        response = await client.post(ROUTE, data=data, headers=JSON)
        return response.status, await response.json(), publisher.records


def expected_counts(sent: dict[str, Any]) -> dict[str, int]:
    counts = sent["platform"]["counts"]
    out = {COUNTS[k]: v for k, v in counts.items() if k in COUNTS}
    if "projectsByState" in counts:
        out["projects_suspended"] = counts["projectsByState"]["suspended"]
    if "devicesByLastSeen" in counts:
        out["devices_never_seen"] = counts["devicesByLastSeen"]["never"]
        out["devices_seen_last_day"] = counts["devicesByLastSeen"]["day"]
    return out


@pytest.mark.parametrize(
    ("name", "dropped", "envelope", "attrs"),
    [
        (
            "oldest-2022.json",
            [],
            ("0.1.0", "unknown", "linux", "amd64"),
            {"nodejs_version": "v16.13.2", "os_release": "5.13.0-28-generic"},
        ),
        (
            "ce.json",
            [],
            ("2.14.0-git", "docker", "darwin", "arm64"),
            {
                "nodejs_version": "v20.11.1",
                "os_release": "23.6.0",
                "driver": "docker",
                "broker_enabled": True,
                "file_store_enabled": False,
                "email_enabled": False,
                "license_type": "CE",
            },
        ),
        (
            "ee.json",
            ["platform.license.id"],
            ("2.14.0", "kubernetes", "linux", "amd64"),
            {
                "nodejs_version": "v20.11.1",
                "os_release": "6.1.0-18-amd64",
                "driver": "kubernetes",
                "broker_enabled": True,
                "file_store_enabled": True,
                "email_enabled": True,
                "license_type": "EE",
            },
        ),
        (
            "dev.json",
            ["platform.license.id"],
            ("2.13.2", "localfs", "linux", "arm64"),
            {
                "nodejs_version": "v18.19.0",
                "os_release": "6.6.12-linuxkit",
                "driver": "localfs",
                "broker_enabled": False,
                "file_store_enabled": False,
                "email_enabled": False,
                "license_type": "DEV",
            },
        ),
    ],
)
async def test_flowfuse_body_is_kept_except_the_license_id(
    name: str, dropped: list[str], envelope: tuple[str, ...], attrs: dict[str, Any]
) -> None:
    data = bodies.fixture("flowfuse", name)
    sent = json.loads(data)
    status, reply, records = await post(data)
    assert bodies.accepted_dropping(status, reply) == dropped
    (record,) = records
    assert record.install_id == uuid.UUID(sent["instanceId"])
    assert (record.event, record.version, record.platform, record.os, record.arch) == (
        "ping",
        *envelope,
    )
    assert record.attrs == attrs
    assert record.counts == expected_counts(sent)
    assert bodies.LICENSE_ID.encode() not in encode_record(record)
