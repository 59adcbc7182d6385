"""Privacy proof (DESIGN §7.4): no client address, hostname, header or undeclared field reaches
Kafka, PostgreSQL or the logs. Pings carry marker values; then a pg_dump of the database, a dump of
every Kafka topic and the services' logs are searched for them."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import aiohttp

from schemas.catalog import load_catalogs
from tests.support import compat as compat_bodies
from tests.support.kafka import dump_all_topics
from tests.support.pipeline import running_pipeline, wait_counted
from tests.support.stack import StackEndpoints

CLIENT_ADDRESS = "203.0.113.77"
MARKERS = {
    "forwarded client address": CLIENT_ADDRESS.encode(),
    "hostname": b"marker-host-7f3a.example.org",
    "e-mail address": b"marker.person@example.com",
    "address in an undeclared field": b"198.51.100.23",
    "user agent": b"MarkerAgent-55",
    "undeclared count": b"marker_count_91",
    "undeclared top-level field": b"marker-top-level-0c1d",
    "address in a stored field": b"192.0.2.201",
}
# Every client string Census could store (hardening issue item 6): each gets a host name or an
# address; the tolerant reader must count the ping and keep none of them.
STORED_FIELD_MARKERS = ("marker-host-7f3a.example.org", "192.0.2.201")
PROXMOX_ROUTE = "/compat/proxmox-scripts/telemetry"
JSON = {"Content-Type": "application/json"}
DECLARED_VERSION = (
    "9.9.9-privacy"  # a declared value: it must be found, or the search proves nothing
)


def pings_with_markers_in_stored_fields() -> list[dict[str, object]]:
    """Pulse pings with a marker in version, platform, os, arch and each declared string attr."""
    catalog = load_catalogs().get("pulse")
    assert catalog is not None
    strings = [name for name, spec in catalog.attrs.items() if spec.type == "string"]
    enums = [name for name, spec in catalog.attrs.items() if spec.type == "enum"]
    pings: list[dict[str, object]] = []
    for marker in STORED_FIELD_MARKERS:
        ping = marked_ping()
        ping.update(version=marker, platform=marker, os=marker, arch=marker)
        ping["version"] = "v" + marker if marker[0].isdigit() else marker
        ping["attrs"] = {name: marker for name in [*strings, *enums]}
        pings.append(ping)
    return pings


def proxmox_reports_with_markers() -> list[dict[str, object]]:
    """api.func reports with a marker in every string the adapter could keep."""
    reports: list[dict[str, object]] = []
    for marker in STORED_FIELD_MARKERS:
        fields = (
            "nsapp",
            "os_type",
            "os_version",
            "pve_version",
            "method",
            "cpu_model",
            "gpu_model",
            "cpu_vendor",
            "gpu_vendor",
            "repo_source",
        )
        markers: dict[str, object] = dict.fromkeys(fields, marker)
        reports.append(compat_bodies.proxmox_body(execution_id=str(uuid.uuid4()), **markers))
    return reports


def marked_ping() -> dict[str, object]:
    return {
        "product": "pulse",
        "install_id": str(uuid.uuid4()),
        "event": "heartbeat",
        "version": DECLARED_VERSION,
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
        "ping_id": str(uuid.uuid4()),
        "hostname": "marker-host-7f3a.example.org",
        "note": "marker-top-level-0c1d",
        "attrs": {
            "ai_enabled": True,
            "hostname": "marker-host-7f3a.example.org",
            "admin_email": "marker.person@example.com",
            "public_ip": "198.51.100.23",
        },
        "counts": {"vms": 3, "marker_count_91": 1},
    }


async def send_malformed_request(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + CLIENT_ADDRESS.encode()
        + b"\r\nX-Note: marker-host-7f3a.example.org\x00\r\nContent-Length: 2\r\n\r\n{}"
    )  # fmt: skip
    await writer.drain()
    assert b" 400 " in await reader.readline()
    writer.close()
    await writer.wait_closed()


def pg_dump(dsn: str) -> bytes:
    binary = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    return subprocess.run(
        [binary, "--no-owner", dsn], capture_output=True, check=True, timeout=120
    ).stdout


async def test_no_marker_reaches_kafka_postgres_or_logs(
    stack_endpoints: StackEndpoints, fresh_database: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    pings = [marked_ping() for _ in range(25)]
    async with running_pipeline(
        bootstrap=stack_endpoints.bootstrap,
        dsn=fresh_database,
        logs=logs,
        extra_env={"CENSUS_TRUSTED_PROXIES": "127.0.0.1/32", "CENSUS_LOG_LEVEL": "DEBUG"},
    ) as pipeline:
        headers = {
            "X-Forwarded-For": CLIENT_ADDRESS,
            "User-Agent": "MarkerAgent-55 (marker-host-7f3a.example.org)",
        }
        async with aiohttp.ClientSession(headers=headers) as session:
            for ping in pings:
                async with session.post(
                    pipeline.ingest_url + "/v1/ping", data=json.dumps(ping), headers=JSON
                ) as reply:
                    assert reply.status == 202, await reply.text()
                    dropped = (await reply.json())["dropped_fields"]
                    assert set(dropped) == {
                        "attrs.hostname", "attrs.admin_email", "attrs.public_ip", "counts.marker_count_91"
                    }  # fmt: skip
            async with session.post(
                pipeline.ingest_url + "/v1/batch", data=json.dumps(pings[:3]), headers=JSON
            ) as reply:  # a retried batch: the same ping_ids again
                assert reply.status == 202
            for ping in pings_with_markers_in_stored_fields():
                async with session.post(
                    pipeline.ingest_url + "/v1/ping", data=json.dumps(ping), headers=JSON
                ) as reply:
                    assert reply.status == 202, await reply.text()
                    assert {"version", "platform", "os", "arch"} <= set(
                        (await reply.json())["dropped_fields"]
                    )
            for report in proxmox_reports_with_markers():
                async with session.post(
                    pipeline.ingest_url + PROXMOX_ROUTE, data=json.dumps(report), headers=JSON
                ) as reply:
                    assert reply.status == 202, await reply.text()
            # A malformed request: aiohttp's own error log would name the client and echo the
            # header; ours must not.
            await send_malformed_request(pipeline.ingest_url)
        marked = len(pings) + len(STORED_FIELD_MARKERS) * 2
        assert await wait_counted(fresh_database, marked, within_s=60) == marked
        kafka = await dump_all_topics(stack_endpoints.bootstrap)
        database = await asyncio.to_thread(pg_dump, fresh_database)
    service_logs = b"".join(path.read_bytes() for path in sorted(logs.glob("*.log")))

    assert DECLARED_VERSION.encode() in kafka
    assert DECLARED_VERSION.encode() in database
    assert b"ingest listening on" in service_logs  # the logs were captured
    found = {
        (where, name)
        for where, blob in {"kafka": kafka, "postgres": database, "logs": service_logs}.items()
        for name, marker in MARKERS.items()
        if marker in blob
    }
    assert found == set()
