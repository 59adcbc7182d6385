"""Helpers for the ingest tests: a fake Publisher, sample pings, a test client on the real app."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from schemas.record import PingRecord
from services.ingest.app import create_app, runner_options
from services.ingest.config import IngestSettings
from services.ingest.publisher import PublishUnavailable


class FakePublisher:
    """Keeps what it is given; can be told to refuse (`down`) or never answer (`hang`)."""

    def __init__(self) -> None:
        self.records: list[PingRecord] = []
        self.down = False
        self.hang = False

    @property
    def inflight(self) -> int:
        return 0

    def readiness(self) -> str | None:
        return "Kafka unreachable: fake" if self.down else None

    async def publish(self, records: Sequence[PingRecord]) -> None:
        if self.down:
            raise PublishUnavailable("Kafka unreachable: fake")
        if self.hang:
            await asyncio.Event().wait()
        self.records.extend(records)


class FakeClock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pulse_ping(**overrides: Any) -> dict[str, Any]:
    """A realistic Pulse heartbeat as a client sends it."""
    ping: dict[str, Any] = {
        "product": "pulse",
        "install_id": str(uuid.uuid4()),
        "event": "heartbeat",
        "version": "5.1.14",
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
        "sent_at": "2026-11-20T10:00:00Z",
        "ping_id": str(uuid.uuid4()),
        "attrs": {
            "version_channel": "stable",
            "deployment_method": "docker_compose",
            "estate_size_bucket": "11_50",
            "activation_stage": "monitoring",
            "auth_configured": True,
            "monitoring_active": True,
            "ai_enabled": False,
            "notifications_enabled": True,
            "relay_enabled": False,
            "paid_license": False,
        },
        "counts": {
            "schema_version": 4,
            "configured_connections": 4,
            "pve_nodes": 3,
            "pbs_instances": 1,
            "vms": 25,
            "containers": 12,
            "docker_hosts": 2,
            "docker_containers": 18,
            "storage_pools": 6,
            "physical_disks": 24,
            "active_alerts": 4,
            "alerts_fired_30d": 18,
            "notification_deliveries_7d": 11,
        },
    }
    ping.update(overrides)
    return ping


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


def gzipped(value: Any) -> bytes:
    return gzip.compress(encode(value))


def ingest_settings(**overrides: Any) -> IngestSettings:
    base = IngestSettings(host="127.0.0.1", port=0, ops_port=0)
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def ingest_client(
    settings: IngestSettings | None = None,
    *,
    publisher: FakePublisher | None = None,
    registry: CollectorRegistry | None = None,
    clock: FakeClock | None = None,
) -> AsyncIterator[TestClient[Any, Any]]:
    """The real app on a loopback port with the fake publisher."""
    settings = settings or ingest_settings()
    app = create_app(
        settings,
        publisher=publisher or FakePublisher(),
        registry=registry or CollectorRegistry(),
        clock=clock or FakeClock(),
    )
    server = TestServer(app, host="127.0.0.1", port=0)
    # TestServer drops constructor kwargs; start_server passes them to the AppRunner.
    await server.start_server(**runner_options(settings))
    async with TestClient(server) as client:
        yield client


def free_port() -> int:
    """A port nothing listens on right now (for subprocesses that need a fixed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
