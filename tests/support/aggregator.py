"""Aggregator test helpers: a fake RollupStore, ping generators and an independent ground truth."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from schemas.catalog import Catalogs
from schemas.record import SCHEMA_VERSION, PingRecord
from services.aggregator.activity import Activity, ActivityKey
from services.aggregator.batch import DeadLetter
from services.aggregator.consumer import Aggregator
from services.aggregator.deadletters import DeadLetterError
from services.aggregator.dedup import StoredIds
from services.aggregator.histogram import BUCKETS
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta
from services.aggregator.source import Message, Rebalance
from services.aggregator.store import (
    ActivityRows,
    FencedError,
    OffsetClaim,
    Source,
    SourceConflict,
    StoreError,
)

# --- a fake store with the same transaction semantics ---------------------------------------


@dataclass
class FakeTables:
    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)
    days: dict[DayKey, InstallDay] = field(default_factory=dict)
    activity: dict[ActivityKey, Activity] = field(default_factory=dict)
    active: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    attrs: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    events: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    counts: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    rollup_activity: dict[tuple[dt.date, str], list[int]] = field(default_factory=dict)


class FakeTx:
    def __init__(self, tables: FakeTables) -> None:
        self.t = tables
        self.staged_offsets: dict[tuple[str, str, int], int] = {}
        self.saves: list[Any] = []

    async def fence(self, group: str, topic: str, claims: list[OffsetClaim]) -> None:
        moved = [
            c.partition
            for c in claims
            if self.t.offsets.get((group, topic, c.partition)) != c.expected
            or (c.expected is not None and c.next_offset <= c.expected)
        ]
        if moved:
            raise FencedError(moved)
        for c in claims:
            self.staged_offsets[(group, topic, c.partition)] = c.next_offset

    async def load_days(self, keys: list[DayKey]) -> dict[DayKey, InstallDay]:
        return {k: self.t.days[k] for k in keys if k in self.t.days}

    async def load_ping_ids(self, keys: list[DayKey]) -> dict[DayKey, StoredIds]:
        return {
            k: (self.t.days[k].ping_ids, self.t.days[k].retry_ids) for k in keys if k in self.t.days
        }

    async def load_activity(self, keys: list[ActivityKey]) -> dict[ActivityKey, Activity]:
        return {k: self.t.activity[k] for k in keys if k in self.t.activity}

    async def save(
        self,
        days: Mapping[DayKey, InstallDay],
        activity: Mapping[ActivityKey, Activity],
        delta: RollupDelta,
        activity_delta: ActivityRows,
        *,
        before_rollups: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        if before_rollups is not None:
            await before_rollups()
        # PostgreSQL refuses a NUL in text and "\u0000" in jsonb (class 22): so does the fake.
        if _holds_nul([days, delta.active, delta.attrs, delta.events, delta.counts]):
            error = StoreError(
                "CharacterNotInRepertoireError: invalid byte sequence",
                retryable=False,
                record_error=True,
            )
            error.__cause__ = ValueError("0x00")
            raise error
        self.saves.append((dict(days), dict(activity), delta, dict(activity_delta)))
        return len(days) + len(activity)

    def commit(self) -> None:
        t = self.t
        t.offsets.update(self.staged_offsets)
        for days, activity, delta, activity_delta in self.saves:
            t.days.update(days)
            t.activity.update(activity)
            for k, (installs, pings) in delta.active.items():
                slot = t.active.setdefault(k, [0, 0])
                slot[0] += installs
                slot[1] += pings
            t.attrs.update(delta.attrs)
            t.events.update(delta.events)
            for k, d in delta.counts.items():
                row = t.counts.setdefault(k, {"installs": 0, "sum": 0, "histogram": [0] * BUCKETS})
                row["installs"] += d.installs
                row["sum"] += d.sum
                row["histogram"] = [
                    a + b for a, b in zip(row["histogram"], d.histogram, strict=True)
                ]
            for k, values in activity_delta.items():
                slot = t.rollup_activity.setdefault(k, [0, 0, 0, 0])
                for i, v in enumerate(values):
                    slot[i] += v
        # min / max: the fake recomputes them (the SQL keeps them incrementally).
        for (day, product, key), row in t.counts.items():
            values = [
                d.counts[key]
                for (dd, pp, _), d in t.days.items()
                if dd == day and pp == product and key in d.counts
            ]
            row["min"] = min(values) if values else None
            row["max"] = max(values) if values else None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, InstallDay):
        return _holds_nul([value.version, value.platform, value.os, value.arch, value.attrs])
    return False


class FakeRollupStore:
    """The RollupStore in memory: staged writes, applied when the transaction commits.

    `gate`, when set, holds every transaction open until it is set (a slow flush);
    `open_now` / `most_open` count the transactions open at once. Stores made with the same
    `tables` are connections to one database (the flush lanes' stores)."""

    def __init__(self, tables: FakeTables | None = None) -> None:
        self.tables = FakeTables() if tables is None else tables
        self.ensured: set[dt.date] = set()
        """Days whose partitions of every day table a flush asked for."""
        self.ensured_events_only: set[dt.date] = set()
        """Days whose rollup_events partition alone a flush asked for."""
        self.fail_next: Exception | None = None
        self.down = False
        self.gate: asyncio.Event | None = None
        self.open_now = 0
        self.most_open = 0
        self.transactions = 0
        self.source: Source | None = None

    async def ensure_days(self, days: set[dt.date], *, events_only: set[dt.date]) -> None:
        self.ensured |= days
        self.ensured_events_only |= events_only

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTx]:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        if self.down:
            raise StoreError("ConnectionRefusedError: down", retryable=True)
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            if self.gate is not None:
                await self.gate.wait()
            tx = FakeTx(self.tables)
            yield tx
            tx.commit()
            self.transactions += 1
        finally:
            self.open_now -= 1

    async def claim_source(self, source: Source) -> None:
        if self.down:
            raise StoreError("ConnectionRefusedError: down", retryable=True)
        if self.source is None:
            self.source = source
        if self.source != source:
            raise SourceConflict(self.source, source)

    async def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        return {p: o for (g, t, p), o in self.tables.offsets.items() if g == group and t == topic}

    async def check(self) -> None:
        if self.down:
            raise StoreError("ConnectionRefusedError: down", retryable=True)


@dataclass
class FakeMessage:
    offset: int
    key: bytes | None
    value: bytes | None


class FakeSource:
    """A PartitionSource in memory: partitions are lists of messages; `rebalance` plays the
    group coordinator (from the test's task, as aiokafka calls the listener from its own)."""

    def __init__(self, partitions: int) -> None:
        self.logs: dict[int, list[FakeMessage]] = {p: [] for p in range(partitions)}
        self.count = partitions
        self.assigned: set[int] = set()
        self.paused: set[int] = set()
        self.positions: dict[int, int] = {}
        self.committed: dict[int, int] = {}
        self.listener: Rebalance | None = None
        self.down = False
        self._wake = asyncio.Event()
        self._assigning = asyncio.Event()  # set once a rebalance has assigned partitions
        self.fetches = 0

    def append(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        log = self.logs[partition]
        log.append(FakeMessage(len(log), key, value))
        self._wake.set()

    def subscribe(self, listener: Rebalance) -> None:
        self.listener = listener

    async def rebalance(self, assigned: set[int]) -> None:
        """Revoke everything (the eager protocol), then assign `assigned` from offset 0."""
        deadline = asyncio.get_running_loop().time() + 10
        while self.listener is None:  # the consumer subscribes once its task runs
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("nothing subscribed")
            await asyncio.sleep(0.01)
        self._assigning.clear()
        try:
            await self.listener.revoked(set(self.assigned))
            self.assigned = set(assigned)
            self.paused &= self.assigned
            self.positions = {p: 0 for p in self.assigned}
        finally:
            self._assigning.set()
        await self.listener.assigned(set(assigned))

    async def getmany(self, timeout_s: float, max_records: int) -> dict[int, list[Message]]:
        self.fetches += 1
        # As aiokafka's: before the first assignment and during a rebalance it waits for the
        # assignment, whatever the timeout.
        await self._assigning.wait()
        out = self._available(max_records)
        if not out:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout_s)
            except TimeoutError:
                return {}
            out = self._available(max_records)
        return out

    def _available(self, max_records: int) -> dict[int, list[Message]]:
        if self.down:
            return {}
        out: dict[int, list[Message]] = {}
        for p in sorted(self.assigned - self.paused):
            at = self.positions[p]
            taken = self.logs[p][at : at + max_records]
            if taken:
                out[p] = list(taken)
                self.positions[p] = at + len(taken)
                max_records -= len(taken)
            if max_records <= 0:
                break
        return out

    def pause(self, partitions: Iterable[int]) -> None:
        self.paused |= set(partitions) & self.assigned

    def resume(self, partitions: Iterable[int]) -> None:
        self.paused -= set(partitions)
        self._wake.set()

    async def seek(self, partition: int, offset: int | None) -> None:
        self.positions[partition] = offset or 0

    async def partition_count(self) -> int:
        if self.down:
            raise ConnectionRefusedError("Kafka down")
        return self.count

    async def end_offsets(self, partitions: list[int]) -> dict[int, int]:
        if self.down:
            raise ConnectionRefusedError("Kafka down")
        return {p: len(self.logs[p]) for p in partitions}

    async def commit(self, offsets: dict[int, int]) -> None:
        self.committed.update(offsets)


class FakeDeadLetters:
    """A DeadLetterSink in memory; `down` makes sending fail like an unreachable Kafka."""

    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []
        self.down = False

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        if self.down:
            raise DeadLetterError("Kafka down")
        self.sent.extend(letters)


# --- pings --------------------------------------------------------------------------------

BASE = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def ping(
    install: uuid.UUID,
    at: dt.datetime,
    *,
    product: str = "pulse",
    event: str = "heartbeat",
    version: str = "5.0.0",
    platform: str = "docker",
    os: str = "linux",
    arch: str = "amd64",
    attrs: dict[str, str | bool] | None = None,
    counts: dict[str, int] | None = None,
    ping_id: uuid.UUID | None = None,
    id_derived: bool = False,
) -> PingRecord:
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=at,
        product=product,
        install_id=install,
        event=event,
        version=version,
        platform=platform,
        os=os,
        arch=arch,
        ping_id=ping_id,
        attrs=attrs or {},
        counts=counts or {},
        id_derived=id_derived,
    )


def content_id(record: PingRecord) -> uuid.UUID:
    """A stand-in for ingest's derived id: the same for the same content, whatever the time."""
    content = msgspec.structs.replace(record, received_at=BASE, ping_id=None, id_derived=False)
    return uuid.uuid5(uuid.NAMESPACE_OID, msgspec.json.encode(content, order="sorted").hex())


def without_client_id(record: PingRecord) -> PingRecord:
    """The record as ingest publishes a ping that came without ping_id."""
    return msgspec.structs.replace(record, ping_id=content_id(record), id_derived=True)


def fleet(
    seed: int, *, installs: int, days: int, pings: int, retries: float = 0.05, derived: bool = False
) -> list[PingRecord]:
    """A random but reproducible mix of pulse and proxmox-scripts pings over `days` UTC days
    ending today, in receive order per install; some pings are retried (same ping_id). Pulse
    pings sometimes leave out os (`unknown`), their counts (a beacon) or their attrs, so a day
    state is a union. With `derived`, a third of the installs send no ping_id: their records
    carry an id derived from the content, as ingest makes it."""
    rng = random.Random(seed)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(installs)]
    start = BASE - dt.timedelta(days=days - 1)
    out: list[PingRecord] = []
    for _ in range(pings):
        install = rng.choice(ids)
        at = start + dt.timedelta(seconds=rng.randrange(days * 86400))
        if install.int % 3 == 0:
            record = ping(
                install,
                at,
                product="proxmox-scripts",
                event=rng.choice(["install", "progress"]),
                version="2025.1",
                platform="pve",
                attrs={
                    "nsapp": rng.choice(["jellyfin", "plex", "docker"]),
                    "status": rng.choice(["success", "failed"]),
                    "type": "lxc",
                },
                counts={"install_duration": rng.randrange(0, 2000)},
                ping_id=uuid.UUID(int=rng.getrandbits(128)),
            )
        else:
            shape = rng.random()
            record = ping(
                install,
                at,
                version=rng.choice(["5.0.0", "5.1.0"]),
                os=rng.choice(["linux", "linux", "linux", "unknown"]),
                arch=rng.choice(["amd64", "arm64"]),
                attrs={}
                if shape < 0.15
                else {"ai_enabled": rng.random() < 0.3, "deployment_method": "docker_compose"},
                counts={}
                if 0.15 <= shape < 0.4
                else {"vms": rng.randrange(0, 50), "containers": rng.choice([0, 1, 5, 1000])},
                ping_id=uuid.UUID(int=rng.getrandbits(128)),
            )
        if derived and install.int % 3 == 1:
            record = without_client_id(record)
        out.append(record)
        if rng.random() < retries:
            out.append(msgspec.structs.replace(record, received_at=at + dt.timedelta(seconds=1)))
    out.sort(key=lambda r: r.received_at)
    return out


# --- ground truth, computed naively ---------------------------------------------------------


def _day(r: PingRecord) -> dt.date:
    return r.received_at.astimezone(dt.UTC).date()


def _text(v: str | bool) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else v


@dataclass
class Truth:
    active: dict[tuple[Any, ...], tuple[int, int]]
    activity: dict[tuple[dt.date, str], tuple[int, int, int]]
    new_installs: dict[tuple[dt.date, str], int]
    attrs: dict[tuple[Any, ...], int]
    counts: dict[tuple[Any, ...], tuple[int, int, int, int]]
    events: dict[tuple[Any, ...], int]
    counted: int


UNKNOWN = "unknown"
RETRY_MINUTES = 10
"""docs/analysts.md: a repeat of a ping without ping_id within 10 minutes of its last copy."""


def _day_state(
    rs: list[PingRecord],
) -> tuple[tuple[str, str, str, str], dict[str, Any], dict[str, int]]:
    """Per field, the last known value among the day's pings (in the order they were consumed)."""
    envelope = [UNKNOWN] * 4
    attrs: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for r in rs:
        for i, value in enumerate((r.version, r.platform, r.os, r.arch)):
            if value != UNKNOWN:
                envelope[i] = value
        attrs.update(r.attrs)
        counts.update(r.counts)
    return (envelope[0], envelope[1], envelope[2], envelope[3]), attrs, counts


def truth(records: Iterable[PingRecord], catalogs: Catalogs) -> Truth:
    """What every rollup must hold, from first principles (no shared code with the aggregator)."""
    seen_ids: set[uuid.UUID] = set()
    last_copy: dict[uuid.UUID, dt.datetime] = {}
    window = dt.timedelta(minutes=RETRY_MINUTES)
    kept: list[PingRecord] = []
    for r in records:  # test retries land within a second, so the same or the next day
        if r.ping_id is not None and r.id_derived:
            before = last_copy.get(r.ping_id)
            last_copy[r.ping_id] = r.received_at if before is None else max(before, r.received_at)
            if before is not None and abs(r.received_at - before) <= window:
                continue
        elif r.ping_id is not None:
            if r.ping_id in seen_ids:
                continue
            seen_ids.add(r.ping_id)
        kept.append(r)
    by_day: dict[tuple[dt.date, str, uuid.UUID], list[PingRecord]] = {}
    for r in kept:
        by_day.setdefault((_day(r), r.product, r.install_id), []).append(r)
    active: Counter[tuple[Any, ...]] = Counter()
    pings: Counter[tuple[Any, ...]] = Counter()
    attrs: Counter[tuple[Any, ...]] = Counter()
    values: dict[tuple[Any, ...], list[int]] = {}
    for (day, product, _), rs in by_day.items():
        envelope, day_attrs, day_counts = _day_state(rs)
        key = (day, product, *envelope)
        active[key] += 1
        pings[key] += len(rs)
        for a, v in day_attrs.items():
            attrs[(day, product, a, _text(v))] += 1
        for c, n in day_counts.items():
            values.setdefault((day, product, c), []).append(n)
    seen: dict[str, dict[uuid.UUID, set[dt.date]]] = {}
    for day, product, install in by_day:
        seen.setdefault(product, {}).setdefault(install, set()).add(day)
    activity: dict[tuple[dt.date, str], tuple[int, int, int]] = {}
    new_installs: Counter[tuple[dt.date, str]] = Counter()
    today = dt.datetime.now(dt.UTC).date()
    for product, installs in seen.items():
        all_days = {d for ds in installs.values() for d in ds}
        first, last_day = min(all_days), min(max(all_days) + dt.timedelta(days=27), today)
        d = first
        while d <= last_day:
            dau = sum(1 for ds in installs.values() if d in ds)
            wau = sum(1 for ds in installs.values() if any(0 <= (d - x).days < 7 for x in ds))
            mau = sum(1 for ds in installs.values() if any(0 <= (d - x).days < 28 for x in ds))
            activity[(d, product)] = (dau, wau, mau)
            d += dt.timedelta(days=1)
        for ds in installs.values():
            new_installs[(min(ds), product)] += 1
    events: Counter[tuple[Any, ...]] = Counter()
    for r in kept:
        catalog = catalogs.get(r.product)
        assert catalog is not None
        dims = {d: r.attrs[d] for d in catalog.dimensions if d in r.attrs}
        events[
            (_day(r), r.product, r.event, msgspec.json.encode(dims, order="sorted").decode())
        ] += 1
    return Truth(
        active={k: (n, pings[k]) for k, n in active.items()},
        activity=activity,
        new_installs=dict(new_installs),
        attrs=dict(attrs),
        counts={k: (len(v), sum(v), min(v), max(v)) for k, v in values.items()},
        events=dict(events),
        counted=len(kept),
    )


# --- real stack helpers ---------------------------------------------------------------------


async def migrated_database(admin_dsn: str, dsn_for: Any) -> str:
    """Create and migrate a fresh database; returns its name (drop it with drop_database)."""
    import asyncpg

    from services.migrate.migrations import discover
    from services.migrate.runner import migrate

    name = f"census_test_agg_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await migrate(conn, discover(), today=dt.datetime.now(dt.UTC).date())
    finally:
        await conn.close()
    return name


async def drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _canonical(dims: str) -> str:
    import json

    return json.dumps(json.loads(dims), sort_keys=True)


async def view_contents(dsn: str) -> dict[str, Any]:
    """Every analyst view, keyed like Truth (read as the analyst role would)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        out: dict[str, Any] = {}
        out["active"] = {
            (r["day"], r["product"], r["version"], r["platform"], r["os"], r["arch"]): (
                r["installs"],
                r["pings"],
            )
            for r in await conn.fetch("SELECT * FROM active_installs_daily")
        }
        out["activity"] = {
            (r["day"], r["product"]): (r["dau"], r["wau"], r["mau"])
            for r in await conn.fetch("SELECT * FROM dau_wau_mau")
        }
        out["new"] = {
            (r["day"], r["product"]): r["installs"]
            for r in await conn.fetch("SELECT * FROM new_installs_daily")
        }
        adoption = await conn.fetch("SELECT * FROM feature_adoption")
        out["attrs"] = {
            (r["day"], r["product"], r["attr"], r["value"]): r["installs"] for r in adoption
        }
        out["counts"] = {
            (r["day"], r["product"], r["count_key"]): (
                r["installs"],
                int(r["sum"]),
                r["min"],
                r["max"],
            )
            for r in await conn.fetch("SELECT * FROM count_distributions")
        }
        out["events"] = {
            (r["day"], r["product"], r["event"], _canonical(r["dimensions"])): r["events"]
            for r in await conn.fetch("SELECT * FROM event_outcomes")
        }
        dau = {k: v[0] for k, v in out["activity"].items()}
        for r in adoption:
            # numeric division in PostgreSQL keeps 16+ significant digits
            expected_share = Decimal(r["installs"]) / Decimal(dau[(r["day"], r["product"])])
            assert abs(r["share"] - expected_share) < Decimal("1e-15")
        return out
    finally:
        await conn.close()


def truth_views(t: Truth) -> dict[str, Any]:
    return {
        "active": t.active,
        "activity": {k: v for k, v in t.activity.items() if any(v)},
        "new": t.new_installs,
        "attrs": t.attrs,
        "counts": t.counts,
        "events": {(d, p, e, _canonical(j)): n for (d, p, e, j), n in t.events.items()},
    }


async def stored_total(dsn: str, group: str, topic: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
            " WHERE consumer_group = $1 AND topic = $2",
            group,
            topic,
        )
        return int(total)
    finally:
        await conn.close()


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        for f in futures:
            await f
    finally:
        await producer.stop()


@asynccontextmanager
async def running(aggregator: Aggregator) -> AsyncIterator[asyncio.Task[None]]:
    """The aggregator's loop as a task, stopped (and awaited, at most 30 s) on leaving."""
    stop = asyncio.Event()
    task = asyncio.create_task(aggregator.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=30)
