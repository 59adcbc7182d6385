"""The Proxmox VE Helper-Scripts' real reports (tests/fixtures/proxmox-scripts, from misc/api.func)
through the ingest app: every field they send is kept, except the error text and the fork's
owner, and nothing identifying is published."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from schemas.record import PingRecord, encode_record
from services.ingest.compat.common import keyed_uuid
from tests.support import compat as bodies
from tests.support.ingest import FakePublisher, ingest_client, ingest_settings

JSON = {"Content-Type": "application/json"}
ROUTE = "/compat/proxmox-scripts/telemetry"
SECRET = "unit-test-secret"
ATTRS = (
    "type",
    "nsapp",
    "status",
    "ct_type",
    "os_type",
    "os_version",
    "pve_version",
    "method",
    "error_category",
    "cpu_vendor",
    "cpu_model",
    "gpu_vendor",
    "gpu_model",
    "gpu_passthrough",
    "has_arm",
    "repo_source",
)
COUNTS = ("disk_size", "core_count", "ram_size", "exit_code", "install_duration", "ram_speed")


async def post(data: bytes) -> tuple[int, dict[str, Any], list[PingRecord]]:
    publisher = FakePublisher()
    async with ingest_client(ingest_settings(id_secret=SECRET), publisher=publisher) as client:
        response = await client.post(ROUTE, data=data, headers=JSON)
        return response.status, await response.json(), publisher.records


def expected_attrs(sent: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: sent[k] for k in ATTRS if k in sent and sent[k] != ""}
    if "ct_type" in attrs:
        attrs["ct_type"] = str(attrs["ct_type"])
    return attrs


def expected_counts(sent: dict[str, Any]) -> dict[str, int]:
    return {k: int(sent[k]) for k in COUNTS if k in sent and sent[k] != ""}


CASES = [
    # name, event, (version, platform, os, arch), dropped
    ("oldest-lxc-installing-2026-02.json", "progress", ("8.3.2", "pve", "debian", "unknown"), []),
    ("lxc-installing.json", "progress", ("9.0.10", "pve", "debian", "amd64"), ["repo_slug"]),
    ("lxc-success.json", "install", ("9.0.10", "pve", "debian", "amd64"), ["repo_slug"]),
    (
        "lxc-failed-fork.json",
        "install",
        ("9.0.10", "pve", "debian", "amd64"),
        ["error", "repo_slug"],
    ),
    ("lxc-aborted.json", "install", ("9.0.10", "pve", "debian", "amd64"), ["error", "repo_slug"]),
    (
        "lxc-success-incus-arm64.json",
        "install",
        ("6.0.4", "incus", "alpine", "arm64"),
        ["repo_slug"],
    ),
    ("vm-installing.json", "progress", ("9.0.10", "pve", "homeassistant", "amd64"), ["repo_slug"]),
    ("vm-success.json", "install", ("9.0.10", "pve", "homeassistant", "amd64"), ["repo_slug"]),
    ("tool-success.json", "install", ("9.0.10", "pve", "unknown", "unknown"), ["repo_slug"]),
    (
        "tool-failed.json",
        "install",
        ("9.0.10", "pve", "unknown", "unknown"),
        ["error", "repo_slug"],
    ),
    ("addon-success.json", "install", ("unknown", "unknown", "debian", "unknown"), ["repo_slug"]),
]


@pytest.mark.parametrize(("name", "event", "envelope", "dropped"), CASES)
async def test_report_is_kept_but_for_the_error_text_and_the_slug(
    name: str, event: str, envelope: tuple[str, ...], dropped: list[str]
) -> None:
    data = bodies.fixture("proxmox-scripts", name)
    sent = json.loads(data)
    status, reply, records = await post(data)
    assert bodies.accepted_dropping(status, reply) == dropped
    (record,) = records
    assert record.install_id == uuid.UUID(sent["random_id"])
    assert (record.event, record.version, record.platform, record.os, record.arch) == (
        event,
        *envelope,
    )
    assert record.attrs == expected_attrs(sent)
    assert record.counts == expected_counts(sent)
    phase = "terminal" if event == "install" else sent["status"]
    execution = sent.get("execution_id", sent["random_id"])
    assert record.ping_id == keyed_uuid(
        SECRET.encode(), "proxmox-scripts", "execution", execution, phase
    )
    wire = encode_record(record)
    for marker in ("marker-node", "10.9.8.7", bodies.REPO_SLUG):
        assert marker.encode() not in wire, marker
    if execution != sent["random_id"]:  # tools and addons send one UUID as both
        assert execution.encode() not in wire


async def test_a_run_reported_twice_terminally_has_one_ping_id() -> None:
    success = json.loads(bodies.fixture("proxmox-scripts", "lxc-success.json"))
    retry = {**success, "install_duration": 313}  # post_update_to_api's retry after a timeout
    _, _, (first,) = await post(json.dumps(success).encode())
    _, _, (second,) = await post(json.dumps(retry).encode())
    assert first.ping_id == second.ping_id
