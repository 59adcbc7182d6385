"""Aggregator throughput: `census aggregate` against a bare decode-only consumer, same run.

Preloads PINGS pings (INSTALLS installs over DAYS days) into a fresh topic of the Kafka at
CENSUS_BENCH_KAFKA (default: the test stack's), migrates a fresh database on CENSUS_BENCH_PG_DSN,
then measures (a) an aiokafka getmany loop that only decodes, (b) `census aggregate` from start
until its stored offsets reach the end of the topic, with the CPU each part used (aggregator,
PostgreSQL, Kafka, read from /proc when they run on this machine), (c) the same with two
replicas into a fresh database, (d) the end-to-end lag with ingest driven at a steady rate.
Writes bench/results/aggregate.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import (  # noqa: E402
    cluster_cpu_seconds,
    cpu_seconds,
    listener_pid,
    parent_pid,
    peak_rss_mb,
)
from schemas.record import SCHEMA_VERSION, PingRecord, decode_record, encode_record  # noqa: E402
from services.migrate.migrations import discover  # noqa: E402
from services.migrate.runner import migrate  # noqa: E402
from tests.support.ingest import TEST_ID_SECRET, free_port, pulse_ping  # noqa: E402
from tests.support.kafka import delete_topic  # noqa: E402
from tests.support.processes import KAFKA_CONNECTED  # noqa: E402

BOOTSTRAP = os.environ.get("CENSUS_BENCH_KAFKA", "127.0.0.1:29092")
ADMIN_DSN = os.environ.get("CENSUS_BENCH_PG_DSN", "postgresql://census@127.0.0.1:56432/census")
PINGS = int(os.environ.get("CENSUS_BENCH_PINGS", "1000000"))
INSTALLS = int(os.environ.get("CENSUS_BENCH_INSTALLS", "120000"))
DAYS = 7
PARTITIONS = 6


def generate(rng: random.Random) -> list[tuple[bytes, bytes]]:
    """Pulse-like heartbeats and proxmox-scripts outcomes, in receive order."""
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(INSTALLS)]
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=DAYS - 1)
    span = DAYS * 86400 - 1
    seconds = sorted(rng.randrange(span) for _ in range(PINGS))
    out: list[tuple[bytes, bytes]] = []
    for i, second in enumerate(seconds):
        install = ids[i % INSTALLS] if i < INSTALLS else rng.choice(ids)
        at = start + dt.timedelta(seconds=second)
        if install.int % 4 == 0:
            record = PingRecord(
                schema=SCHEMA_VERSION,
                received_at=at,
                product="proxmox-scripts",
                install_id=install,
                event="install",
                version="2025.11",
                platform="pve",
                os="debian",
                arch="amd64",
                ping_id=uuid.UUID(int=rng.getrandbits(128)),
                attrs={
                    "nsapp": rng.choice(["jellyfin", "plex", "docker", "homeassistant", "pihole"]),
                    "type": "lxc",
                    "status": "success" if rng.random() < 0.9 else "failed",
                    "repo_source": "ProxmoxVE",
                },
                counts={"install_duration": rng.randrange(30, 2000), "exit_code": 0},
            )
        else:
            h = install.int
            record = PingRecord(
                schema=SCHEMA_VERSION,
                received_at=at,
                product="pulse",
                install_id=install,
                event="heartbeat",
                version=("5.0.0", "5.1.0", "5.1.1", "5.2.0")[h % 4],
                platform=("docker", "lxc", "binary")[h % 3],
                os="linux",
                arch=("amd64", "arm64")[h % 2],
                ping_id=uuid.UUID(int=rng.getrandbits(128)),
                attrs={
                    "ai_enabled": h % 5 == 0,
                    "deployment_method": "docker_compose",
                    "version_channel": "stable",
                    "auth_configured": True,
                },
                counts={"vms": h % 50, "containers": h % 200, "pve_nodes": 1 + h % 3},
            )
        out.append((install.bytes, encode_record(record)))
    return out


async def delete_topics(topics: list[str]) -> None:
    """Best effort, one by one: the DLQ topic may not exist."""
    for topic in topics:
        try:
            await delete_topic(BOOTSTRAP, topic)
        except Exception as exc:
            print(f"bench/aggregate.py: topic {topic} not deleted: {exc}", file=sys.stderr)


async def preload(topic: str, values: list[tuple[bytes, bytes]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=20, max_batch_size=512 * 1024, acks=1
    )
    await producer.start()
    try:
        pending = []
        for key, value in values:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def consume_only(topic: str, total: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        started = time.perf_counter()
        seen = 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20000)
            for messages in batch.values():
                for m in messages:
                    decode_record(m.value)
                seen += len(messages)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def spawn_service(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "services.cli", command], cwd=ROOT, env=env)


async def aggregate(topic: str, dsn: str, total: int, replicas: int = 1) -> dict[str, float]:
    """`replicas` processes of `census aggregate` in one group, from the start of `topic` until
    their stored offsets reach `total`."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CENSUS_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CENSUS_KAFKA_TOPIC": topic,
        "CENSUS_KAFKA_DLQ_TOPIC": topic + ".dlq",
        "CENSUS_KAFKA_PARTITIONS": str(PARTITIONS),
        "CENSUS_PG_DSN": dsn,
        "CENSUS_AGGREGATOR_GROUP": group,
        "CENSUS_AGGREGATOR_OPS_PORT": "0",
        "CENSUS_LOG_LEVEL": "WARNING",
    }
    conn = await asyncpg.connect(dsn)
    others = LocalCpu(conn, await conn.fetchval("SELECT pg_backend_pid()"))
    await others.start()
    started = time.perf_counter()
    processes = [spawn_service("aggregate", env) for _ in range(replicas)]
    first_flush: float | None = None
    peak = 0.0
    try:
        while True:
            stored = await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = $1",
                group,
            )
            if stored and first_flush is None:
                first_flush = time.perf_counter()
                await others.find_backends()
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"census aggregate exited with {process.returncode}")
                peak = max(peak, peak_rss_mb(process.pid))
            if stored >= total:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        peak = max([peak, *(peak_rss_mb(p.pid) for p in processes)])
        cpu = sum(cpu_seconds(p.pid) for p in processes)
        await others.find_backends()  # all replicas are connected by now
        used = others.used()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        await conn.close()
    return {
        "elapsed": elapsed,
        "after_first_flush": time.perf_counter() - (first_flush or started),
        "rss": peak,
        "cpu_cores": cpu / elapsed,
        "aggregator_cpu_seconds": cpu,
        **used,
    }


class LocalCpu:
    """CPU used during the run by PostgreSQL (the whole cluster, and the aggregator's own
    backends) and by the Kafka broker, when both run on this machine (else NaN)."""

    def __init__(self, conn: asyncpg.Connection, own_backend: int) -> None:
        self._conn = conn
        self._own = own_backend
        self._postmaster: int | None = None
        self._kafka = listener_pid(int(BOOTSTRAP.rpartition(":")[2]))
        self._backends: list[int] = []
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        nan = float("nan")
        try:
            cluster = cluster_cpu_seconds(self._postmaster) if self._postmaster else nan
            backends = sum(cpu_seconds(pid) for pid in self._backends) if self._backends else nan
        except (FileNotFoundError, ProcessLookupError):
            cluster = backends = nan
        try:
            kafka = cpu_seconds(self._kafka) if self._kafka else nan
        except (FileNotFoundError, ProcessLookupError):
            kafka = nan
        return {"postgres": cluster, "backends": backends, "kafka": kafka}

    async def start(self) -> None:
        try:
            self._postmaster = parent_pid(self._own)
        except (FileNotFoundError, ProcessLookupError):
            self._postmaster = None  # PostgreSQL is on another machine
        self._before = self._now()

    async def find_backends(self) -> None:
        """The aggregator's connections: they start after it did, so all their time is its."""
        rows = await self._conn.fetch(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND backend_type = 'client backend'
                  AND pid <> pg_backend_pid()"""
        )
        self._backends = sorted({*self._backends, *(r[0] for r in rows)})

    def used(self) -> dict[str, float]:
        after = self._now()
        return {
            "postgres_cpu_seconds": after["postgres"] - self._before["postgres"],
            "backend_cpu_seconds": after["backends"],
            "kafka_cpu_seconds": after["kafka"] - self._before["kafka"],
        }


LAG_RATE = int(os.environ.get("CENSUS_BENCH_LAG_RATE", "5000"))
LAG_SECONDS = int(os.environ.get("CENSUS_BENCH_LAG_SECONDS", "30"))
LAG_BATCH = 50


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], within_s: float = 60, line: str | None = None
) -> None:
    """Until `url` answers 200 (and, with `line`, its body has that line)."""
    import aiohttp

    deadline = time.perf_counter() + within_s
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
            try:
                async with session.get(url) as reply:
                    body = await reply.text()
                    if reply.status == 200 and (line is None or line in body.splitlines()):
                        return
            except aiohttp.ClientError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(url)
            await asyncio.sleep(0.1)


async def e2e_lag(dsn: str) -> dict[str, float]:
    """Ingest driven at LAG_RATE pings/s (batches of LAG_BATCH) with the aggregator running:
    the time from a batch's 202 until the count of pings visible in active_installs_daily
    covers it (count-based: the aggregator does not promise order across partitions)."""
    import aiohttp

    topic = f"census.bench.lag.{uuid.uuid4().hex[:8]}"
    port, ingest_ops, aggregator_ops = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "CENSUS_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CENSUS_KAFKA_TOPIC": topic,
        "CENSUS_KAFKA_DLQ_TOPIC": topic + ".dlq",
        "CENSUS_KAFKA_PARTITIONS": str(PARTITIONS),
        "CENSUS_PG_DSN": dsn,
        "CENSUS_AGGREGATOR_GROUP": f"bench-lag-{uuid.uuid4().hex[:8]}",
        "CENSUS_INGEST_PORT": str(port),
        "CENSUS_INGEST_OPS_PORT": str(ingest_ops),
        "CENSUS_AGGREGATOR_OPS_PORT": str(aggregator_ops),
        "CENSUS_INGEST_RATE_PER_S": "0",
        "CENSUS_INGEST_ID_SECRET": TEST_ID_SECRET,
        "CENSUS_LOG_LEVEL": "WARNING",
    }
    ingest = spawn_service("ingest", env)
    aggregator = spawn_service("aggregate", env)
    acked: list[tuple[float, int]] = []  # (time of the 202, pings acknowledged so far)
    seen: list[tuple[float, int]] = []  # (time of the poll, pings visible)
    total = 0
    try:
        # Ready means "answers"; the producer reaching Kafka is the gauge.
        await wait_ready(f"http://127.0.0.1:{ingest_ops}/metrics", ingest, line=KAFKA_CONNECTED)
        await wait_ready(f"http://127.0.0.1:{aggregator_ops}/readyz", aggregator)
        conn = await asyncpg.connect(dsn)
        sending = True

        async def poll() -> None:
            while sending or (seen and seen[-1][1] < total):
                visible = await conn.fetchval(
                    "SELECT coalesce(sum(pings), 0) FROM active_installs_daily"
                )
                seen.append((time.perf_counter(), int(visible)))
                await asyncio.sleep(0.05)

        poller = asyncio.create_task(poll())
        async with aiohttp.ClientSession() as session:
            interval = LAG_BATCH / LAG_RATE
            next_at = time.perf_counter()
            end = next_at + LAG_SECONDS

            async def send_one() -> None:
                nonlocal total
                body = json.dumps(
                    [pulse_ping(install_id=str(uuid.uuid4())) for _ in range(LAG_BATCH)]
                )
                async with session.post(
                    f"http://127.0.0.1:{port}/v1/batch",
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as reply:
                    if reply.status == 202:
                        total += LAG_BATCH
                        acked.append((time.perf_counter(), total))

            pending: set[asyncio.Task[None]] = set()
            while next_at < end:
                task = asyncio.create_task(send_one())
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if pending:
                await asyncio.wait(pending)
        sending = False
        await asyncio.wait_for(poller, timeout=180)
        await conn.close()
    finally:
        for process in (ingest, aggregator):
            process.terminate()
            process.wait(timeout=60)
        await delete_topics([topic, topic + ".dlq"])
    lags = []
    for at, count in acked:
        visible_at = next(t for t, n in seen if n >= count and t >= at - 1.0)
        lags.append(max(0.0, visible_at - at))
    lags.sort()
    return {
        "acked": total,
        "seconds": LAG_SECONDS,
        "p50": lags[len(lags) // 2],
        "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
    }


def _rate(us_per_ping: float) -> int | None:
    """Pings per second at `us_per_ping` microseconds of one core each; None if unknown."""
    return None if math.isnan(us_per_ping) else round(1e6 / us_per_ping)


@asynccontextmanager
async def migrated_database(admin: asyncpg.Connection, name: str) -> AsyncIterator[str]:
    """A fresh database `name` with every migration applied, dropped afterwards; yields its DSN."""
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{ADMIN_DSN.rpartition('/')[0]}/{name}"
    try:
        conn = await asyncpg.connect(dsn)
        await migrate(conn, discover(), today=dt.datetime.now(dt.UTC).date())
        await conn.close()
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> dict[str, Any]:
    rng = random.Random(7)
    topic = f"census.bench.{uuid.uuid4().hex[:8]}"
    name = f"census_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        async with migrated_database(admin, name) as dsn:
            values = generate(rng)
            distinct = len({k for k, _ in values})
            await preload(topic, values)
            del values
            consume_s = await consume_only(topic, PINGS)
            agg = await aggregate(topic, dsn, PINGS)
            conn = await asyncpg.connect(dsn)
            install_days = await conn.fetchval("SELECT count(*) FROM install_days")
            await conn.close()
        # The same backlog again, into a fresh database, by two replicas in one group: how
        # the design's scaling path (more replicas) does on this machine's cores.
        async with migrated_database(admin, f"{name}_pair") as dsn:
            pair = await aggregate(topic, dsn, PINGS, replicas=2)
        async with migrated_database(admin, f"{name}_lag") as dsn:
            lag = await e2e_lag(dsn)
    finally:
        await admin.close()
        await delete_topics([topic, topic + ".dlq"])
    consume_rate = PINGS / consume_s
    per_ping = {
        name: agg[f"{name}_cpu_seconds"] / PINGS * 1e6
        for name in ("aggregator", "postgres", "backend", "kafka")
    }
    all_parts = per_ping["aggregator"] + per_ping["postgres"] + per_ping["kafka"]
    cores = os.cpu_count() or 1
    aggregate_rate = PINGS / agg["elapsed"]
    return {
        "pings": PINGS,
        "distinct_installs": distinct,
        "install_days": install_days,
        "days": DAYS,
        "partitions": PARTITIONS,
        "consume_only_pings_per_s": round(consume_rate),
        "aggregate_pings_per_s": round(aggregate_rate),
        "aggregate_pings_per_s_after_first_flush": round(PINGS / agg["after_first_flush"]),
        "aggregate_vs_consume": round(aggregate_rate / consume_rate, 3),
        "aggregator_rss_mb": round(agg["rss"], 1),
        # Its CPU seconds per second of the run: near 1.0 means bound by its own Python.
        "aggregator_cpu_cores": round(agg["cpu_cores"], 2),
        # CPU per ping of each part, and the rates they bound (this machine's speed): one
        # aggregator writes through one connection, one PostgreSQL process, so one core;
        # and all parts together cannot go past every core of the machine busy.
        "aggregator_cpu_us_per_ping": round(per_ping["aggregator"], 1),
        "postgres_cpu_us_per_ping": round(per_ping["postgres"], 1),
        "postgres_backend_cpu_us_per_ping": round(per_ping["backend"], 1),
        "kafka_cpu_us_per_ping": round(per_ping["kafka"], 1),
        "machine_cores": cores,
        "one_connection_ceiling_pings_per_s": _rate(per_ping["backend"]),
        "all_cores_ceiling_pings_per_s": _rate(all_parts / cores),
        "two_replicas_pings_per_s": round(PINGS / pair["elapsed"]),
        "two_replicas_vs_one": round(agg["elapsed"] / pair["elapsed"], 2),
        "two_replicas_cpu_cores": round(pair["cpu_cores"], 2),
        "e2e_lag_rate_pings_per_s": LAG_RATE,
        "e2e_lag_acked_pings": lag["acked"],
        "e2e_lag_p50_s": round(lag["p50"], 3),
        "e2e_lag_p99_s": round(lag["p99"], 3),
    }


if __name__ == "__main__":
    results = asyncio.run(main())
    for key, value in results.items():
        print(f"{key}: {value}")
    out = ROOT / "bench" / "results" / "aggregate.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
