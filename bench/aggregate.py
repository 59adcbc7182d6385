"""Aggregator throughput: `census aggregate` against its two floors, measured in the same run.

For each of two mixes (bench/mixes.py: write-heavy, about one ping per install-day; realistic,
about ten) it preloads the pings into a fresh topic of the Kafka at CENSUS_BENCH_KAFKA and
measures (a) consume-only: an aiokafka getmany loop that only decodes, (b) the PostgreSQL floor:
one COPY of exactly the install-day rows those pings produce into a fresh copy of install_days
(bench/floor.py), (c) `census aggregate` from the start of the topic until its stored offsets
reach the end, with the CPU each part used (aggregator, PostgreSQL, Kafka, read from /proc when
they run on this machine). Then, on the write-heavy topic, two replicas into a fresh database;
the end-to-end lag with ingest driven at a steady rate; and the aggregator's memory for a fleet
of CENSUS_BENCH_FLEET_INSTALLS installs (default 1,000,000). Prints `figure: value` lines and
whether each bar is met; writes bench/results/aggregate.json. Progress goes to stderr.
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
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import mixes  # noqa: E402
from bench.bars import Bar, report  # noqa: E402
from bench.floor import InstallDayRows, copy_floor  # noqa: E402
from bench.proc import (  # noqa: E402
    cluster_cpu_seconds,
    cpu_seconds,
    listener_pid,
    parent_pid,
    peak_rss_mb,
)
from schemas.record import PingRecord, decode_record, encode_record  # noqa: E402
from services.migrate.migrations import discover  # noqa: E402
from services.migrate.runner import (  # noqa: E402
    ensure_partitions,
    migrate,
)
from tests.support.ingest import TEST_ID_SECRET, free_port, pulse_ping  # noqa: E402
from tests.support.kafka import delete_topic  # noqa: E402
from tests.support.processes import KAFKA_CONNECTED  # noqa: E402

BOOTSTRAP = os.environ.get("CENSUS_BENCH_KAFKA", "127.0.0.1:29092")
ADMIN_DSN = os.environ.get("CENSUS_BENCH_PG_DSN", "postgresql://census@127.0.0.1:26432/census")
PINGS = int(os.environ.get("CENSUS_BENCH_PINGS", "1000000"))
INSTALLS = int(os.environ.get("CENSUS_BENCH_INSTALLS", "120000"))
REALISTIC_PINGS = int(os.environ.get("CENSUS_BENCH_REALISTIC_PINGS", str(PINGS)))
FLEET_INSTALLS = int(os.environ.get("CENSUS_BENCH_FLEET_INSTALLS", "1000000"))
FLEET_DAYS = int(os.environ.get("CENSUS_BENCH_FLEET_DAYS", "2"))
CONSUME_ROUNDS = max(1, int(os.environ.get("CENSUS_BENCH_CONSUME_ROUNDS", "3")))
DAYS = 7
PARTITIONS = 6
LOCAL_PG = listener_pid(int(ADMIN_DSN.rpartition(":")[2].split("/")[0])) is not None

BARS = (
    Bar("aggregate_vs_floor", ">=", 0.25),
    Bar("realistic_aggregate_vs_floor", ">=", 0.25),
    Bar("e2e_lag_p99_s", "<=", 1.0, "needs ingest to sustain the lag rate of 5,000 pings/s"),
    Bar("aggregator_rss_mb", "<=", 300, "needs CENSUS_BENCH_FLEET_INSTALLS >= 1,000,000"),
)


def progress(message: str) -> None:
    print(f"bench/aggregate.py: {message}", file=sys.stderr, flush=True)


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
        for i, (key, value) in enumerate(values, 1):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
            if i % 200_000 == 0:
                progress(f"preloaded {i:,} of {len(values):,} into {topic}")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def consume_only(topic: str, total: int) -> tuple[float, float]:
    """Seconds and this process's CPU seconds to fetch and decode the whole topic."""
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
        started, cpu = time.perf_counter(), time.process_time()
        seen = 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20000)
            for messages in batch.values():
                for m in messages:
                    decode_record(m.value)
                seen += len(messages)
        return time.perf_counter() - started, time.process_time() - cpu
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
    shown = started
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
            if time.perf_counter() - shown >= 10:
                shown = time.perf_counter()
                progress(f"aggregated {int(stored):,} of {total:,} ({replicas} replica(s))")
            await asyncio.sleep(0.2)
        ended = time.perf_counter()
        elapsed = ended - started
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
        "after_first_flush": ended - (first_flush or started),
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

            # Warm-up: the group joined and one batch counted, so that the figures are the steady
            # state's and not the start-up's (a consumer group takes seconds to form).
            await send_one()
            deadline = time.perf_counter() + 120
            while not seen or seen[-1][1] < total:
                if time.perf_counter() > deadline:
                    raise TimeoutError("the warm-up batch never became visible")
                await asyncio.sleep(0.05)
            acked.clear()
            warm = total
            next_at = time.perf_counter()
            end = next_at + LAG_SECONDS
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
        "acked": total - warm,
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
        today = dt.datetime.now(dt.UTC).date()
        await migrate(conn, discover(), today=today)
        # The pings fall on the last DAYS days: their partitions exist, as in a deployment that
        # has run that long (else the aggregator's first flushes create them under a lock).
        await ensure_partitions(conn, today - dt.timedelta(days=DAYS - 1), DAYS)
        await conn.close()
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def preloaded(
    label: str, topic: str, records: Iterable[PingRecord]
) -> tuple[int, int, InstallDayRows, int]:
    """Encodes `records` into `topic` (keyed by install, as ingest does) and folds them into the
    install-day rows they produce; returns (pings, distinct installs, rows, record bytes)."""
    rows = InstallDayRows()
    values: list[tuple[bytes, bytes]] = []
    for record in records:
        values.append((record.install_id.bytes, encode_record(record)))
        rows.add(record)
    installs = len({key for key, _ in values})
    progress(f"{label}: {len(values):,} pings of {installs:,} installs, {len(rows):,} install-days")
    await preload(topic, values)
    return len(values), installs, rows, sum(len(v) for _, v in values)


def part_costs(agg: dict[str, float], pings: int, prefix: str) -> dict[str, Any]:
    """CPU per ping of each part and the rates they bound on this machine: one aggregator
    writes through one connection, one PostgreSQL process, so one core; and all parts together
    cannot go past every core of the machine busy."""
    per_ping = {
        part: agg[f"{part}_cpu_seconds"] / pings * 1e6
        for part in ("aggregator", "postgres", "backend", "kafka")
    }
    all_parts = per_ping["aggregator"] + per_ping["postgres"] + per_ping["kafka"]
    return {
        # Its CPU seconds per second of the run: near 1.0 means bound by its own Python.
        f"{prefix}aggregator_cpu_cores": round(agg["cpu_cores"], 2),
        f"{prefix}aggregator_cpu_us_per_ping": round(per_ping["aggregator"], 1),
        f"{prefix}postgres_cpu_us_per_ping": round(per_ping["postgres"], 1),
        f"{prefix}postgres_backend_cpu_us_per_ping": round(per_ping["backend"], 1),
        f"{prefix}kafka_cpu_us_per_ping": round(per_ping["kafka"], 1),
        f"{prefix}one_connection_ceiling_pings_per_s": _rate(per_ping["backend"]),
        f"{prefix}all_cores_ceiling_pings_per_s": _rate(all_parts / (os.cpu_count() or 1)),
    }


async def table_sizes(conn: asyncpg.Connection) -> dict[str, float]:
    """Bytes on disk (with indexes and TOAST) of the per-install tables, and the rollups' bytes
    per day: per table, its non-empty day partitions' bytes over their number (a day's rollup
    rows are spread over days ahead too, DAU/WAU/MAU windows; empty partitions made ahead are
    left out)."""

    async def leaves(table: str) -> list[str]:
        rows = await conn.fetch(
            "SELECT relid::regclass::text FROM pg_partition_tree($1::regclass) WHERE isleaf",
            table,
        )
        return [r[0] for r in rows] or [table]  # a table that is not partitioned is its own leaf

    async def size(relations: list[str]) -> int:
        return sum(
            [
                int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", r))
                for r in relations
            ]
        )

    rollup_tables = await conn.fetch(
        """SELECT c.relname::text FROM pg_class c
            WHERE c.relname LIKE 'rollup\\_%' AND c.relname <> 'rollup_source'
              AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND c.relnamespace = current_schema()::regnamespace"""
    )
    per_day = 0.0
    for (table,) in rollup_tables:
        filled = [
            leaf
            for leaf in await leaves(table)
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {leaf})")
        ]
        partitioned = filled and filled[0] != table
        per_day += await size(filled) / (len(filled) if partitioned else DAYS)
    return {
        "install_days": await size(await leaves("install_days")),
        "install_activity": await size(await leaves("install_activity")),
        "rollups_per_day": per_day,
    }


async def measure_mix(
    admin: asyncpg.Connection, label: str, prefix: str, topic: str, records: Iterable[PingRecord]
) -> dict[str, Any]:
    """Consume-only, the COPY floor and `census aggregate` on the same pings."""
    pings, installs, rows, record_bytes = await preloaded(label, topic, records)
    # The machine's speed drifts within a minute: one consume-only run made a ratio swing by a
    # third between runs (83k and 227k pings/s on the same mix), so the median of a few is used.
    consumed: list[tuple[float, float]] = []
    for round_ in range(1, CONSUME_ROUNDS + 1):
        progress(f"{label}: consume-only, run {round_} of {CONSUME_ROUNDS}")
        consumed.append(await consume_only(topic, pings))
    consume_s, consume_cpu = sorted(consumed)[len(consumed) // 2]
    async with migrated_database(admin, f"census_bench_{uuid.uuid4().hex[:8]}") as dsn:
        progress(f"{label}: the COPY floor ({len(rows):,} rows)")
        floor = await copy_floor(dsn, rows, local=LOCAL_PG)
        del rows
        progress(f"{label}: census aggregate")
        agg = await aggregate(topic, dsn, pings)
        conn = await asyncpg.connect(dsn)
        install_days = int(await conn.fetchval("SELECT count(*) FROM install_days"))
        sizes = await table_sizes(conn)
        await conn.close()
    consume_rate = pings / consume_s
    floor_rate = pings / floor.seconds
    aggregate_rate = pings / agg["elapsed"]
    return {
        f"{prefix}pings": pings,
        f"{prefix}distinct_installs": installs,
        f"{prefix}install_days": install_days,
        # The floor's rows are computed from the pings, the aggregator's are what it stored.
        f"{prefix}install_days_equal_floor_rows": install_days == floor.rows,
        f"{prefix}pings_per_install_day": round(pings / floor.rows, 2),
        f"{prefix}consume_only_pings_per_s": round(consume_rate),
        f"{prefix}consume_only_pings_per_s_runs": [round(pings / s) for s, _ in consumed],
        f"{prefix}consume_only_cpu_us_per_ping": round(consume_cpu / pings * 1e6, 1),
        f"{prefix}floor_pings_per_s": round(floor_rate),
        f"{prefix}floor_rows_per_s": round(floor.rows / floor.seconds),
        f"{prefix}floor_seconds": round(floor.seconds, 3),
        f"{prefix}floor_postgres_cpu_us_per_ping": round(
            floor.backend_cpu_seconds / pings * 1e6, 1
        ),
        f"{prefix}floor_client_cpu_us_per_ping": round(floor.client_cpu_seconds / pings * 1e6, 1),
        f"{prefix}floor_columns_left_to_default": floor.defaulted,
        f"{prefix}aggregate_pings_per_s": round(aggregate_rate),
        f"{prefix}aggregate_pings_per_s_after_first_flush": round(pings / agg["after_first_flush"]),
        f"{prefix}aggregate_vs_consume": round(aggregate_rate / consume_rate, 3),
        f"{prefix}aggregate_vs_floor": round(aggregate_rate / min(consume_rate, floor_rate), 3),
        f"{prefix}aggregator_rss_mb" if prefix else "aggregator_rss_mb_write_heavy": round(
            agg["rss"], 1
        ),
        # Storage, as stored right after the run (indexes and not yet vacuumed row versions in).
        f"{prefix}record_bytes": round(record_bytes / pings, 1),
        f"{prefix}install_days_bytes_per_row": round(sizes["install_days"] / install_days, 1),
        f"{prefix}install_activity_bytes_per_install": round(
            sizes["install_activity"] / installs, 1
        ),
        f"{prefix}rollup_bytes_per_day": round(sizes["rollups_per_day"]),
        **part_costs(agg, pings, prefix),
    }


async def measure_fleet(admin: asyncpg.Connection) -> dict[str, Any]:
    """`census aggregate`'s memory and speed for FLEET_INSTALLS installs, FLEET_DAYS days."""
    topic = f"census.bench.fleet.{uuid.uuid4().hex[:8]}"
    rng = random.Random(11)
    try:
        pings, installs, rows, _ = await preloaded(
            "fleet", topic, mixes.fleet(rng, FLEET_INSTALLS, FLEET_DAYS)
        )
        del rows
        async with migrated_database(admin, f"census_bench_{uuid.uuid4().hex[:8]}") as dsn:
            progress("fleet: census aggregate")
            agg = await aggregate(topic, dsn, pings)
    finally:
        await delete_topics([topic, topic + ".dlq"])
    return {
        "fleet_installs": installs,
        "fleet_days": FLEET_DAYS,
        "fleet_pings": pings,
        "aggregator_rss_mb": round(agg["rss"], 1),
        "fleet_aggregate_pings_per_s": round(pings / agg["elapsed"]),
        **part_costs(agg, pings, "fleet_"),
    }


async def main() -> dict[str, Any]:
    admin = await asyncpg.connect(ADMIN_DSN)
    figures: dict[str, Any] = {
        "machine_cores": os.cpu_count() or 1,
        "days": DAYS,
        "partitions": PARTITIONS,
    }
    heavy = f"census.bench.heavy.{uuid.uuid4().hex[:8]}"
    try:
        try:
            figures |= await measure_mix(
                admin,
                "write-heavy",
                "",
                heavy,
                mixes.write_heavy(random.Random(7), PINGS, INSTALLS, DAYS),
            )
            # The same backlog again, into a fresh database, by two replicas in one group: how
            # the design's scaling path (more replicas) does on this machine's cores.
            progress("write-heavy: two replicas")
            async with migrated_database(admin, f"census_bench_{uuid.uuid4().hex[:8]}") as dsn:
                pair = await aggregate(heavy, dsn, PINGS, replicas=2)
        finally:
            await delete_topics([heavy, heavy + ".dlq"])
        single_s = PINGS / figures["aggregate_pings_per_s"]
        figures |= {
            "two_replicas_pings_per_s": round(PINGS / pair["elapsed"]),
            "two_replicas_vs_one": round(single_s / pair["elapsed"], 2),
            "two_replicas_cpu_cores": round(pair["cpu_cores"], 2),
        }
        realistic = f"census.bench.realistic.{uuid.uuid4().hex[:8]}"
        try:
            figures |= await measure_mix(
                admin,
                "realistic",
                "realistic_",
                realistic,
                mixes.realistic(random.Random(9), REALISTIC_PINGS, DAYS),
            )
        finally:
            await delete_topics([realistic, realistic + ".dlq"])
        progress(f"end-to-end lag at {LAG_RATE:,} pings/s for {LAG_SECONDS} s")
        async with migrated_database(admin, f"census_bench_{uuid.uuid4().hex[:8]}") as dsn:
            lag = await e2e_lag(dsn)
        figures |= {
            "e2e_lag_rate_pings_per_s": LAG_RATE,
            "e2e_lag_achieved_pings_per_s": round(lag["acked"] / lag["seconds"]),
            "e2e_lag_acked_pings": lag["acked"],
            "e2e_lag_p50_s": round(lag["p50"], 3),
            "e2e_lag_p99_s": round(lag["p99"], 3),
        }
        figures |= await measure_fleet(admin)
    finally:
        await admin.close()
    return figures


def judged(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures as the bars see them: a bar set at a size or a rate this run did not reach
    is not measured by it."""
    view = dict(figures)
    if LAG_RATE < 5000 or figures["e2e_lag_achieved_pings_per_s"] < 0.95 * 5000:
        view["e2e_lag_p99_s"] = None
    if figures["fleet_installs"] < 1_000_000:
        view["aggregator_rss_mb"] = None
    return view


if __name__ == "__main__":
    results = asyncio.run(main())
    for key, value in results.items():
        print(f"{key}: {value}")
    results["bars"] = report(BARS, judged(results))
    out = ROOT / "bench" / "results" / "aggregate.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
