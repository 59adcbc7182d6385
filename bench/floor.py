"""The PostgreSQL floor of aggregation: one COPY of exactly the install-day rows a run's pings
produce (one per UTC day of received_at, product and install_id, in its last state of the day)
into a fresh copy of install_days, its columns read from the migrated database."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from bench.proc import cpu_seconds
from schemas.record import PingRecord

_JSON = msgspec.json.Encoder(order="sorted")


@dataclass(slots=True)
class _Row:
    version: str
    platform: str
    os: str
    arch: str
    attrs: bytes  # JSON text, encoded once when the state is taken
    counts: bytes
    pings: int
    first_ping: dt.datetime
    last_ping: dt.datetime
    ping_ids: bytearray = field(default_factory=bytearray)


class InstallDayRows:
    """Folds records, in receive order, into install-day rows: the latest ping's state wins."""

    def __init__(self) -> None:
        self._rows: dict[tuple[dt.date, str, Any], _Row] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, record: PingRecord) -> None:
        at = record.received_at
        key = (at.astimezone(dt.UTC).date(), record.product, record.install_id)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = _Row(
                record.version,
                record.platform,
                record.os,
                record.arch,
                _JSON.encode(record.attrs),
                _JSON.encode(record.counts),
                0,
                at,
                at,
            )
        elif at >= row.last_ping:
            row.version, row.platform, row.os, row.arch = (
                record.version,
                record.platform,
                record.os,
                record.arch,
            )
            row.attrs, row.counts = _JSON.encode(record.attrs), _JSON.encode(record.counts)
        row.pings += 1
        row.first_ping = min(row.first_ping, at)
        row.last_ping = max(row.last_ping, at)
        if record.ping_id is not None:
            row.ping_ids += record.ping_id.bytes

    def days(self) -> set[dt.date]:
        return {key[0] for key in self._rows}

    def values(self, columns: list[str]) -> list[tuple[Any, ...]]:
        getters = [_GETTERS[c] for c in columns]
        return [tuple(get(key, row) for get in getters) for key, row in self._rows.items()]


_GETTERS: dict[str, Any] = {
    "day": lambda k, r: k[0],
    "product": lambda k, r: k[1],
    "install_id": lambda k, r: k[2],
    "version": lambda k, r: r.version,
    "platform": lambda k, r: r.platform,
    "os": lambda k, r: r.os,
    "arch": lambda k, r: r.arch,
    "attrs": lambda k, r: r.attrs,
    "counts": lambda k, r: r.counts,
    "pings": lambda k, r: r.pings,
    "first_ping": lambda k, r: r.first_ping,
    "last_ping": lambda k, r: r.last_ping,
    "ping_ids": lambda k, r: bytes(r.ping_ids),
}


@dataclass(frozen=True, slots=True)
class FloorResult:
    rows: int
    seconds: float
    backend_cpu_seconds: float  # the COPY's PostgreSQL backend (NaN if PostgreSQL is remote)
    client_cpu_seconds: float  # this process, encoding and sending the rows
    columns: list[str]
    defaulted: list[str]  # columns the bench does not know, left to their defaults


TABLE = "bench_floor_install_days"


async def _columns(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
    rows = await conn.fetch(
        """SELECT column_name, is_nullable, column_default FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'install_days'
            ORDER BY ordinal_position"""
    )
    if not rows:
        raise RuntimeError("bench/floor.py: install_days not found in the migrated database")
    known: list[str] = []
    defaulted: list[str] = []
    for name, nullable, default in rows:
        if name in _GETTERS:
            known.append(name)
        elif default is not None or nullable == "YES":
            defaulted.append(name)
        else:
            raise RuntimeError(
                f"bench/floor.py: install_days.{name} is NOT NULL without a default and the "
                "bench cannot fill it: teach bench/floor.py its value"
            )
    return known, defaulted


async def _fresh_copy(conn: asyncpg.Connection, days: set[dt.date]) -> None:
    """install_days' columns, defaults, constraints and indexes, partitioned as it is."""
    partkey = await conn.fetchval("SELECT pg_get_partkeydef('install_days'::regclass)")
    await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    if partkey is None:
        await conn.execute(f"CREATE TABLE {TABLE} (LIKE install_days INCLUDING ALL)")
        return
    if partkey != "RANGE (day)":
        raise RuntimeError(f"bench/floor.py: install_days is partitioned by {partkey}, not by day")
    await conn.execute(
        f"CREATE TABLE {TABLE} (LIKE install_days INCLUDING ALL) PARTITION BY {partkey}"
    )
    for day in sorted(days):
        await conn.execute(
            f"""CREATE TABLE {TABLE}_p{day:%Y%m%d} PARTITION OF {TABLE}
                FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + dt.timedelta(days=1)).isoformat()}')"""
        )


async def copy_floor(dsn: str, rows: InstallDayRows, *, local: bool) -> FloorResult:
    """One COPY of `rows` into a fresh copy of install_days, in one transaction, with the
    session settings the aggregator uses for its writes (synchronous_commit off)."""
    conn = await asyncpg.connect(dsn, server_settings={"synchronous_commit": "off"})
    try:
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda text: b"\x01" + text,  # jsonb's binary format: version 1, JSON text
            decoder=lambda data: data[1:],
            schema="pg_catalog",
            format="binary",
        )
        columns, defaulted = await _columns(conn)
        await _fresh_copy(conn, rows.days())
        values = rows.values(columns)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        cpu_before = cpu_seconds(backend) if local else float("nan")
        client_before = time.process_time()
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(TABLE, columns=columns, records=values)
        seconds = time.perf_counter() - started
        client = time.process_time() - client_before
        backend_cpu = cpu_seconds(backend) - cpu_before if local else float("nan")
        stored = await conn.fetchval(f"SELECT count(*) FROM {TABLE}")
        if stored != len(values):
            raise RuntimeError(f"bench/floor.py: copied {len(values)} rows, {stored} stored")
        await conn.execute(f"DROP TABLE {TABLE}")
        return FloorResult(len(values), seconds, backend_cpu, client, columns, defaulted)
    finally:
        await conn.close()
