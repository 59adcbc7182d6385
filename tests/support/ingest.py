"""Helpers for the ingest tests: a fake Publisher, sample pings, a test client on the real app."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
import msgspec
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from schemas.record import PingRecord
from services.ingest.app import create_app, runner_options
from services.ingest.config import IngestSettings
from services.ingest.publisher import PublishUnavailable
from tests.support.http import CensusTestServer
from tests.support.stack import ROOT


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

    async def publish(self, records: Sequence[PingRecord], timeout_s: float) -> None:
        if self.down:
            raise PublishUnavailable("Kafka unreachable: fake")
        if self.hang:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), timeout_s)
            raise PublishUnavailable("Kafka did not acknowledge within the publish deadline")
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


TEST_ID_SECRET: Final = "census-tests-only-id-secret"
"""CENSUS_INGEST_ID_SECRET of every ingest the tests start: ingest refuses to start without one."""


def ingest_settings(**overrides: Any) -> IngestSettings:
    base = IngestSettings(host="127.0.0.1", port=0, ops_port=0, id_secret=TEST_ID_SECRET)
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
    server = CensusTestServer(app, host="127.0.0.1", port=0)
    # TestServer drops constructor kwargs; start_server passes them to the AppRunner.
    await server.start_server(**runner_options(settings, app))
    async with TestClient(server) as client:
        yield client


def free_port() -> int:
    """A port nothing listens on right now (for subprocesses that need a fixed one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class IngestProcess:
    """`census ingest` as a real subprocess on free loopback ports; stopped with SIGTERM."""

    def __init__(self, bootstrap: str, topic: str, **env: str) -> None:
        self.port = free_port()
        self.ops_port = free_port()
        self.env = {
            **os.environ,
            "CENSUS_KAFKA_BOOTSTRAP": bootstrap,
            "CENSUS_KAFKA_TOPIC": topic,
            "CENSUS_KAFKA_PARTITIONS": "3",
            "CENSUS_INGEST_HOST": "127.0.0.1",
            "CENSUS_INGEST_PORT": str(self.port),
            "CENSUS_INGEST_OPS_PORT": str(self.ops_port),
            "CENSUS_INGEST_RATE_PER_S": "0",
            "CENSUS_INGEST_ID_SECRET": TEST_ID_SECRET,
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "census"), "ingest"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    async def ready_status(self, session: aiohttp.ClientSession) -> int | None:
        try:
            async with session.get(self.ops_url + "/readyz") as response:
                return response.status
        except aiohttp.ClientError:
            return None

    async def kafka_connected(self, session: aiohttp.ClientSession) -> float | None:
        """census_ingest_kafka_connected from /metrics, or None if it cannot be read."""
        try:
            async with session.get(self.ops_url + "/metrics") as response:
                text = await response.text()
        except aiohttp.ClientError:
            return None
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "census_ingest_kafka_connected":
                return float(value)
        return None

    async def wait_ready(self, session: aiohttp.ClientSession, within_s: float = 60.0) -> None:
        """Until /readyz answers 200 and the producer reaches Kafka (so a ping gets its 202)."""
        deadline = time.monotonic() + within_s
        while await self.ready_status(session) != 200 or await self.kafka_connected(session) != 1.0:
            assert self.process is not None and self.process.poll() is None, self.output()
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest not ready within {within_s} s:\n{self.output()}")
            await asyncio.sleep(0.1)

    async def terminate(self, within_s: float = 30.0) -> int:
        """SIGTERM, then the exit code (waiting without blocking the loop)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + within_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise TimeoutError(f"ingest did not exit within {within_s} s")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        if self.process is None or self.process.stdout is None or self.process.poll() is None:
            return ""
        return self.process.stdout.read().decode(errors="replace")


async def post_ping(session: aiohttp.ClientSession, url: str, ping: dict[str, Any]) -> int:
    """Status of one POST /v1/ping; 0 when the connection failed."""
    try:
        async with session.post(
            url + "/v1/ping", data=encode(ping), headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError:
        return 0
