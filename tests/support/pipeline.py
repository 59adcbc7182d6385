"""The whole pipeline as real processes: ingest and aggregator (and retention) on a test stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from services.migrate.migrations import discover
from services.migrate.runner import migrate
from tests.support.ingest import TEST_ID_SECRET
from tests.support.processes import CENSUS, ServiceProcess, free_port
from tests.support.truth import ORDER_DEPENDENT, ExpectedViews


@dataclass
class Pipeline:
    """Running ingest + aggregator processes wired to one topic, group and database."""

    ingest: ServiceProcess
    aggregator: ServiceProcess
    retention: ServiceProcess | None
    ingest_url: str
    dsn: str
    topic: str
    logs: Path

    @property
    def services(self) -> list[ServiceProcess]:
        return [s for s in (self.ingest, self.aggregator, self.retention) if s is not None]


def service_env(bootstrap: str, dsn: str, topic: str, group: str) -> dict[str, str]:
    return {
        "CENSUS_KAFKA_BOOTSTRAP": bootstrap,
        "CENSUS_KAFKA_TOPIC": topic,
        "CENSUS_KAFKA_DLQ_TOPIC": topic + ".dlq",
        "CENSUS_KAFKA_PARTITIONS": "6",
        "CENSUS_PG_DSN": dsn,
        "CENSUS_AGGREGATOR_GROUP": group,
        # The simulated fleet sends from one address: per-client limits would only slow it down.
        "CENSUS_INGEST_RATE_PER_S": "0",
        "CENSUS_INGEST_PUBLISH_TIMEOUT_S": "3",
        "CENSUS_INGEST_RETRY_AFTER_S": "1",
        "CENSUS_INGEST_KAFKA_PROBE_S": "0.5",
        "CENSUS_INGEST_ID_SECRET": TEST_ID_SECRET,
        "CENSUS_AGGREGATOR_RETRY_MAX_S": "2",
        "CENSUS_LOG_LEVEL": "INFO",
    }


async def migrated(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, discover(), today=dt.datetime.now(dt.UTC).date())
    finally:
        await conn.close()


def _service(
    command: str, env: dict[str, str], ops_port_variable: str, logs: Path
) -> ServiceProcess:
    ops_port = free_port()
    return ServiceProcess(
        [command], {**env, ops_port_variable: str(ops_port)}, ops_port, logs / f"{command}.log"
    )


@asynccontextmanager
async def running_pipeline(
    *,
    bootstrap: str,
    dsn: str,
    logs: Path,
    with_retention: bool = False,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Pipeline]:
    """Start ingest and aggregator (and retention) against `dsn`; stop them all afterwards."""
    await migrated(dsn)
    topic = f"census.e2e.{uuid.uuid4().hex[:10]}"
    env = service_env(bootstrap, dsn, topic, group=f"census-e2e-{uuid.uuid4().hex[:8]}")
    env.update(extra_env or {})
    port = free_port()
    ingest = _service(
        "ingest", {**env, "CENSUS_INGEST_PORT": str(port)}, "CENSUS_INGEST_OPS_PORT", logs
    )
    aggregator = _service("aggregate", env, "CENSUS_AGGREGATOR_OPS_PORT", logs)
    retention = (
        _service("retention", env, "CENSUS_RETENTION_OPS_PORT", logs) if with_retention else None
    )
    pipeline = Pipeline(ingest, aggregator, retention, f"http://127.0.0.1:{port}", dsn, topic, logs)
    try:
        for service in pipeline.services:
            await service.start()
        yield pipeline
    finally:
        for service in reversed(pipeline.services):
            await service.stop()


async def run_fleet(
    url: str,
    truth: Path,
    *,
    seconds: float,
    rate: float,
    installs: int,
    batch: int = 1,
    seed: int = 1,
    with_ping_id: bool = True,
) -> asyncio.subprocess.Process:
    """Start `census fleet` as a subprocess; the caller awaits `.wait()`."""
    return await asyncio.create_subprocess_exec(
        str(CENSUS), "fleet", "--url", url, "--truth", str(truth), "--duration", str(seconds),
        "--rate", str(rate), "--installs", str(installs), "--batch", str(batch),
        "--seed", str(seed), "--concurrency", "8", "--drain", "60",
        *([] if with_ping_id else ["--without-ping-id"]),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_counted(dsn: str, expected: int, *, within_s: float) -> int:
    """Poll the sum of pings in active_installs_daily until it reaches `expected`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            counted = int(
                await conn.fetchval("SELECT coalesce(sum(pings), 0) FROM active_installs_daily")
            )
            if counted >= expected or loop.time() > deadline:
                return counted
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def actual_views(dsn: str, day: dt.date) -> ExpectedViews:
    """Read the analyst views of `day` into the shape `expected_views` computes."""
    conn = await asyncpg.connect(dsn)
    try:
        active = {
            (r["product"], r["version"], r["platform"], r["os"], r["arch"]): (
                r["installs"],
                r["pings"],
            )
            for r in await conn.fetch("SELECT * FROM active_installs_daily WHERE day = $1", day)
        }
        dau = {
            r["product"]: r["dau"]
            for r in await conn.fetch("SELECT * FROM dau_wau_mau WHERE day = $1", day)
        }
        adoption = {
            (r["product"], r["attr"], r["value"]): r["installs"]
            for r in await conn.fetch("SELECT * FROM feature_adoption WHERE day = $1", day)
            if r["attr"] not in ORDER_DEPENDENT.get(r["product"], frozenset())
        }
        counts = {
            (r["product"], r["count_key"]): (r["installs"], int(r["sum"]), r["min"], r["max"])
            for r in await conn.fetch("SELECT * FROM count_distributions WHERE day = $1", day)
            if r["count_key"] not in ORDER_DEPENDENT.get(r["product"], frozenset())
        }
        events: dict[tuple[str, str, str], int] = {}
        for r in await conn.fetch(
            "SELECT product, event, dimensions::text AS d, events FROM event_outcomes WHERE day = $1",
            day,
        ):
            dims: dict[str, Any] = json.loads(r["d"])
            events[(r["product"], r["event"], json.dumps(dims, sort_keys=True))] = r["events"]
        return ExpectedViews(
            active=active, dau=dau, adoption=adoption, counts=counts, events=events
        )
    finally:
        await conn.close()
