"""Realistic bodies of the five seed products (written from their public docs and sources), with
marker values in every identifying field so a test can search the published bytes for them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Final

FIXTURES: Final = Path(__file__).resolve().parents[1] / "fixtures"
"""tests/fixtures/<product>/*.json: bodies written from each product's client code."""


def fixture(product: str, name: str) -> bytes:
    """The bytes of tests/fixtures/<product>/<name>, exactly as committed."""
    return (FIXTURES / product / name).read_bytes()


def accepted_dropping(status: int, reply: dict[str, Any]) -> list[str]:
    """The fields a 202 for one ping says were dropped; each has its reason beside it."""
    assert status == 202, reply
    assert reply["accepted"] == 1, reply
    assert set(reply["reasons"]) == set(reply["dropped_fields"]), reply
    return list(reply["dropped_fields"])


# Identifying values: none of these may appear in a published record.
HOSTNAME: Final = "pve-marker-host.example.org"
IP: Final = "198.51.100.73"
EMAIL: Final = "admin-marker@example.org"
LICENSE_ID: Final = "lic-marker-7f3a9c"
ERROR_TEXT: Final = "exit_code=100 | APT failed on marker-node 10.9.8.7"
REPO_SLUG: Final = "marker-user/ProxmoxVE"
PROVIDER: Final = "marker-provider-sendgrid"
NOVU_INSTANCE: Final = "novu-marker-instance-61d2"
MAESTRO_INSTANCE: Final = "maestro-marker-instance-99"
EXECUTION: Final = "7c1b2a3d-0e4f-4a5b-8c6d-9e0f1a2b3c4d"
MARKERS: Final = (
    HOSTNAME,
    IP,
    EMAIL,
    LICENSE_ID,
    "marker-node",
    "10.9.8.7",
    REPO_SLUG,
    PROVIDER,
    NOVU_INSTANCE,
    MAESTRO_INSTANCE,
    EXECUTION,
)


def pulse_body(**overrides: Any) -> dict[str, Any]:
    """A Pulse heartbeat as internal/telemetry/telemetry.go marshals it (schema v4 fields)."""
    body: dict[str, Any] = {
        "install_id": str(uuid.uuid4()),
        "version": "5.1.14",
        "version_raw": "v5.1.14",
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
        "event": "heartbeat",
        "schema_version": 4,
        "sent_at": "2026-11-20T10:00:00Z",
        "deployment_method": "docker_compose",
        "version_channel": "stable",
        "pve_nodes": 3,
        "pbs_instances": 1,
        "pmg_instances": 0,
        "vms": 25,
        "containers": 12,
        "docker_hosts": 2,
        "kubernetes_clusters": 0,
        "active_alerts": 4,
        "ai_enabled": False,
        "relay_enabled": False,
        "sso_enabled": True,
        "multi_tenant": False,
        "paid_license": False,
        "has_api_tokens": True,
        "pulse_intelligence_patrol_tokens_30d": 1200,
    }
    body.update(overrides)
    return body


def proxmox_body(**overrides: Any) -> dict[str, Any]:
    """A terminal report as misc/api.func _tm_payload builds it for a failed LXC install."""
    body: dict[str, Any] = {
        "random_id": str(uuid.uuid4()),
        "execution_id": EXECUTION,
        "type": "lxc",
        "nsapp": "jellyfin",
        "status": "failed",
        "ct_type": 1,
        "disk_size": 8,
        "core_count": 2,
        "ram_size": 2048,
        "os_type": "debian",
        "os_version": "12",
        "pve_version": "8.3.2",
        "method": "default",
        "exit_code": 100,
        "error": ERROR_TEXT,
        "error_category": "",
        "install_duration": 312,
        "cpu_vendor": "intel",
        "cpu_model": "Intel Core i5-8500T CPU @ 2.10GHz",
        "gpu_vendor": "intel",
        "gpu_model": "Intel Corporation CoffeeLake-S GT2 [UHD Graphics 630]",
        "gpu_passthrough": "igpu",
        "ram_speed": "2666",
        "arch": "amd64",
        "has_arm": False,
        "repo_source": "external",
        "repo_slug": REPO_SLUG,
    }
    body.update(overrides)
    return body


def flowfuse_body(**overrides: Any) -> dict[str, Any]:
    """FlowFuse's daily ping: the dotted metric keys of telemetryMetrics/*.js, nested by gather()."""
    body: dict[str, Any] = {
        "instanceId": str(uuid.uuid4()),
        "os": {"type": "Linux", "release": "6.1.0-18-amd64", "arch": "x64"},
        "env": {"nodejs": "v20.11.1", "flowforge": "2.6.1"},
        "platform": {
            "counts": {
                "users": 12,
                "teams": 3,
                "projects": 8,
                "projectsByState": {"suspended": 2},
                "devices": 25,
                "projectSnapshots": 40,
                "projectTemplates": 2,
                "projectStacks": 3,
                "libraryEntries": 15,
                "sharedLibraryEntries": 0,
            },
            "config": {
                "driver": "docker",
                "broker": {"enabled": True},
                "fileStore": {"enabled": False},
                "email": {"enabled": True},
            },
            "license": {"id": LICENSE_ID, "type": "EE"},
        },
    }
    body.update(overrides)
    return body


def novu_beacon_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instanceId": NOVU_INSTANCE,
        "hostname": HOSTNAME,
        "ipAddress": IP,
        "platform": "linux",
        "release": "6.5.0-1017-aws",
        "freeMemory": 1_153_433_600,
        "totalMemory": 8_201_334_784,
        "timestamp": 1_790_000_000_000,
    }
    body.update(overrides)
    return body


def novu_usage_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instanceId": NOVU_INSTANCE,
        "eventCount": 1520,
        "integrationCount": [
            {"providerId": PROVIDER, "count": 2},
            {"providerId": "twilio", "count": 1},
        ],
        "orgCount": 1,
        "subscriberCount": 950,
        "topicCount": 3,
        "totalSteps": 10,
        "userCount": 3,
        "workflowCount": 6,
        "timestamp": "2026-11-20T10:00:00Z",
    }
    body.update(overrides)
    return body


def novu_wrapped_body(**overrides: Any) -> dict[str, Any]:
    """A Regular Beacon as Novu's worker posts it to OS_TELEMETRY_URL (sendDataToNovuTrace)."""
    properties = {"distinct_id": NOVU_INSTANCE, **novu_beacon_body(timestamp=None)}
    properties["timestamp"] = "2026-11-20T10:00:00.123Z"
    properties.update(overrides)
    return {"event": "Regular Beacon - [OS Telemetry]", "properties": properties}


def maestrohub_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instance_id": MAESTRO_INSTANCE,
        "event": "report",
        "version": "2.2.0",
        "os": "linux",
        "arch": "arm64",
        "license": {"type": "trial", "id": LICENSE_ID},
        "hostname": HOSTNAME,
        "public_ip": IP,
        "admin_email": EMAIL,
        "country": "DE",
        "city": "Munich",
        "users": 5,
        "organizations": 1,
        "data_models": 4,
        "connections": {"by_type": {"mqtt": 3, "opcua": 7, "modbus": 2}},
        "pipelines": {"total": 9, "enabled": 6},
        "nodes": {"total": 57, "by_type": {"trigger.manual": 9, "transform.js": 48}},
        "uns": {
            "topics": 120,
            "mqtt_clients": 3,
            "mqtt_mode": "embedded",
            "storage_mode": "pebble",
        },
        "executions": {"total": 4200, "success": 4150, "failure": 50},
        "uptime_seconds": 86400,
        "timestamp": "2026-11-20T10:00:00Z",
    }
    body.update(overrides)
    return body


ROUTE_BODIES: Final = {
    "/compat/pulse/v1/telemetry/ping": pulse_body,
    "/compat/proxmox-scripts/telemetry": proxmox_body,
    "/compat/flowfuse/ping": flowfuse_body,
    "/compat/novu/telemetry": novu_wrapped_body,
    "/compat/novu/beacon": novu_beacon_body,
    "/compat/novu/usage": novu_usage_body,
    "/compat/maestrohub/report": maestrohub_body,
}


def adapt_outcome(
    adapt: Any, body: bytes, context: Any, received_at: Any, retry_ids: Any
) -> tuple[str, Any]:
    """What a compat adapter makes of `body`, in full: its refusal, or the pings, the records
    published (the id derived from the ping's content included) and what it reports back."""
    import msgspec

    from services.ingest.validate import Rejection, to_record

    try:
        checked = adapt(body, context)
    except Rejection as rejection:
        return "refused", rejection
    return "checked", (
        [msgspec.structs.asdict(p) for p in checked.pings],
        [msgspec.structs.asdict(to_record(p, received_at, retry_ids)) for p in checked.pings],
        checked.dropped_fields,
        checked.reasons,
        checked.drops,
        checked.undeclared,
    )
