"""The asyncpg RollupStore: one connection; new per-install rows go in by COPY, stored install
days are updated through one JSON value per statement, everything else is array parameters."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final

import asyncpg
import msgspec

from services.aggregator.activity import WINDOWS, Activity, ActivityKey
from services.aggregator.dedup import StoredIds
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta
from services.aggregator.store import (
    ActivityRows,
    FencedError,
    OffsetClaim,
    Source,
    SourceConflict,
    StoreError,
)

log = logging.getLogger(__name__)

DAY_TABLES: Final = (
    "install_days",
    "rollup_active_installs",
    "rollup_attr_values",
    "rollup_counts",
    "rollup_events",
)
DAY_COLUMNS: Final = [
    "day",
    "product",
    "install_id",
    "version",
    "platform",
    "os",
    "arch",
    "attrs",
    "counts",
    "pings",
    "first_ping",
    "last_ping",
    "ping_ids",
    "retry_ids",
]
ACTIVITY_AHEAD: Final = max(WINDOWS.values()) - 1
"""A sighting on day d changes rollup_activity up to d + 27."""

# Errors after which the same flush may simply be tried again (on a new connection if need be).
RETRYABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # "another operation is in progress": the connection's state is unknown after a lost
    # server; dropping it and reconnecting is the cure, not ending the service.
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.UniqueViolationError,  # two consumers created the same rollup row at once
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.InsufficientResourcesError,
)

# Errors that name a value the flush's records carry (class 22 data exceptions such as a NUL byte
# in text, 22021, or "\u0000" in jsonb, 22P05; a check or not-null violation): the same records
# fail every time, so they are isolated and dead-lettered instead of retried or ending the service.
RECORD_ERRORS: Final = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.CheckViolationError,
    asyncpg.exceptions.NotNullViolationError,
    # asyncpg's own "invalid input for query argument": a value it cannot encode. An
    # InterfaceError by class, but no connection problem, so retrying would never end.
    asyncpg.exceptions._base.DataError,
)

_json_encode = msgspec.json.Encoder().encode


def _store_error(exc: BaseException) -> StoreError:
    record_error = isinstance(exc, RECORD_ERRORS)
    return StoreError(
        f"{type(exc).__name__}: {exc}",
        retryable=not record_error and isinstance(exc, RETRYABLE),
        record_error=record_error,
    )


def _by_day(keys: list[DayKey]) -> dict[dt.date, tuple[list[str], list[uuid.UUID]]]:
    """Keys split by day into parallel (products, installs) lists, for unnest()."""
    by_day: dict[dt.date, tuple[list[str], list[uuid.UUID]]] = {}
    for day, product, install in keys:
        products, installs = by_day.setdefault(day, ([], []))
        products.append(product)
        installs.append(install)
    return by_day


# The updates of stored install_days rows carry them as one JSON value per statement, encoded by
# msgspec in C: as array parameters (unnest) asyncpg spent 5.5 us of client CPU per row (a
# Python call per jsonb value, an isinstance check per array element) against 1.1 us, and the
# statement took 13 us of wall time per row against 15-18 (PostgreSQL's CPU 12-13 us against
# 8-11: it parses the JSON instead). Reads stay array parameters and records: as one JSON value
# their wall time was 8-9 us per row against 5-7, and so were install_activity's reads and
# updates (10,000 rows each, three runs of a harness timing each statement alone).


class PgTx:
    """A FlushTx on an asyncpg connection inside an open transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        # Rows that exist already are updated; the others are new and go in with COPY.
        self._stored_days: set[DayKey] = set()
        self._stored_activity: set[ActivityKey] = set()

    async def fence(self, group: str, topic: str, claims: list[OffsetClaim]) -> None:
        partitions = [c.partition for c in claims]
        rows = await self._conn.fetch(
            """SELECT partition, next_offset FROM consumer_offsets
                WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3::int[])
                ORDER BY partition FOR UPDATE""",
            group,
            topic,
            partitions,
        )
        stored = {r["partition"]: r["next_offset"] for r in rows}
        moved = [
            c.partition
            for c in claims
            if stored.get(c.partition) != c.expected
            or (c.expected is not None and c.next_offset <= c.expected)
        ]
        if moved:
            raise FencedError(moved)
        new = [c for c in claims if c.expected is None]
        if new:
            inserted = await self._conn.fetch(
                """INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
                   SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS u(p, o)
                   ON CONFLICT DO NOTHING RETURNING partition""",
                group,
                topic,
                [c.partition for c in new],
                [c.next_offset for c in new],
            )
            if len(inserted) != len(new):
                raise FencedError(sorted({c.partition for c in new} - {r[0] for r in inserted}))
        known = [c for c in claims if c.expected is not None]
        if known:
            # The row must still be where this consumer left it, and only ever moves forward:
            # checked again here so the statement alone is a fence, whatever locked it before.
            updated = await self._conn.fetch(
                """UPDATE consumer_offsets c SET next_offset = u.o, updated_at = now()
                     FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS u(p, e, o)
                    WHERE c.consumer_group = $1 AND c.topic = $2 AND c.partition = u.p
                      AND c.next_offset = u.e AND u.o > u.e
                RETURNING c.partition""",
                group,
                topic,
                [c.partition for c in known],
                [c.expected for c in known],
                [c.next_offset for c in known],
            )
            if len(updated) != len(known):
                raise FencedError(sorted({c.partition for c in known} - {r[0] for r in updated}))

    async def _rows_by_day(
        self, keys: list[DayKey], columns: str
    ) -> AsyncIterator[tuple[dt.date, list[asyncpg.Record]]]:
        """`columns` of the stored install days among `keys`, day by day: one statement per
        day, because a constant day prunes the scan to that day's partition."""
        for day, (products, installs) in sorted(_by_day(keys).items()):
            rows = await self._conn.fetch(
                f"""SELECT d.product, d.install_id, {columns}
                      FROM install_days d
                      JOIN unnest($2::text[], $3::uuid[]) AS k(product, install_id)
                        ON d.product = k.product AND d.install_id = k.install_id
                     WHERE d.day = $1""",
                day,
                products,
                installs,
            )
            yield day, rows

    async def load_days(self, keys: list[DayKey]) -> dict[DayKey, InstallDay]:
        out: dict[DayKey, InstallDay] = {}
        columns = (
            "d.version, d.platform, d.os, d.arch, d.attrs, d.counts, d.pings, d.first_ping,"
            " d.last_ping, d.ping_ids, d.retry_ids"
        )
        async for day, rows in self._rows_by_day(keys, columns):
            for r in rows:
                self._stored_days.add((day, r[0], r[1]))
                out[(day, r[0], r[1])] = InstallDay(
                    r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]
                )
        return out

    async def load_ping_ids(self, keys: list[DayKey]) -> dict[DayKey, StoredIds]:
        out: dict[DayKey, StoredIds] = {}
        async for day, rows in self._rows_by_day(keys, "d.ping_ids, d.retry_ids"):
            out.update(((day, r[0], r[1]), (r[2], r[3])) for r in rows)
        return out

    async def load_activity(self, keys: list[ActivityKey]) -> dict[ActivityKey, Activity]:
        rows = await self._conn.fetch(
            """SELECT a.product, a.install_id, a.first_day, a.last_day, a.days_seen
                 FROM install_activity a
                 JOIN unnest($1::text[], $2::uuid[]) AS k(product, install_id)
                   ON a.product = k.product AND a.install_id = k.install_id""",
            [p for p, _ in keys],
            [i for _, i in keys],
        )
        self._stored_activity.update((r[0], r[1]) for r in rows)
        return {(r[0], r[1]): Activity(r[2], r[3], r[4]) for r in rows}

    async def save(
        self,
        days: Mapping[DayKey, InstallDay],
        activity: Mapping[ActivityKey, Activity],
        delta: RollupDelta,
        activity_delta: ActivityRows,
        *,
        before_rollups: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        written = 0
        if days:
            await self._save_days(days)
            written += len(days)
        if activity:
            await self._save_install_activity(activity)
            written += len(activity)
        if before_rollups is not None:
            await before_rollups()
        written += await self._save_active(delta)
        written += await self._save_attrs(delta)
        written += await self._save_events(delta)
        written += await self._save_counts(delta)
        written += await self._save_activity(activity_delta)
        return written

    async def _save_days(self, days: Mapping[DayKey, InstallDay]) -> None:
        # No sorting of rows keyed by install: they are this consumer's alone (fenced), so lock
        # order cannot deadlock, and sorting UUIDs costs more than writing them.
        stored = self._stored_days
        new: list[tuple[Any, ...]] = []
        by_day: dict[dt.date, list[tuple[str, uuid.UUID, InstallDay]]] = {}
        for k, r in days.items():  # one pass: a key hashes a UUID in Python
            if k in stored:
                by_day.setdefault(k[0], []).append((k[1], k[2], r))
            else:
                new.append(
                    (
                        *k,
                        r.version,
                        r.platform,
                        r.os,
                        r.arch,
                        r.attrs,
                        r.counts,
                        r.pings,
                        r.first_ping,
                        r.last_ping,
                        r.ping_ids,
                        r.retry_ids,
                    )
                )
        if new:
            await self._conn.copy_records_to_table("install_days", columns=DAY_COLUMNS, records=new)
        for day, items in by_day.items():  # one statement per day: it touches one partition
            await self._conn.execute(
                """UPDATE install_days d
                      SET version = u.r->>0, platform = u.r->>1, os = u.r->>2, arch = u.r->>3,
                          attrs = u.r->4, counts = u.r->5, pings = (u.r->>6)::int,
                          first_ping = (u.r->>7)::timestamptz, last_ping = (u.r->>8)::timestamptz,
                          ping_ids = decode(u.r->>9, 'base64'), retry_ids = decode(u.r->>10, 'base64')
                     FROM (SELECT e->>0 AS product, (e->>1)::uuid AS install_id, e->2 AS r
                             FROM jsonb_array_elements($2::text::jsonb) AS e) AS u
                    WHERE d.day = $1 AND d.product = u.product AND d.install_id = u.install_id""",
                day,
                _json_encode(items).decode(),
            )

    async def _save_install_activity(self, activity: Mapping[ActivityKey, Activity]) -> None:
        stored = self._stored_activity
        new: list[tuple[str, uuid.UUID, dt.date, dt.date, int]] = []
        # The stored rows' columns, filled in one pass (a key hashes a UUID in Python).
        products: list[str] = []
        installs: list[uuid.UUID] = []
        firsts: list[dt.date] = []
        lasts: list[dt.date] = []
        masks: list[int] = []
        for key, a in activity.items():
            if key in stored:
                products.append(key[0])
                installs.append(key[1])
                firsts.append(a.first_day)
                lasts.append(a.last_day)
                masks.append(a.days_seen)
            else:
                new.append((*key, a.first_day, a.last_day, a.days_seen))
        if new:
            await self._conn.copy_records_to_table(
                "install_activity",
                columns=["product", "install_id", "first_day", "last_day", "days_seen"],
                records=new,
            )
        if products:
            await self._conn.execute(
                """UPDATE install_activity a
                      SET first_day = u.first_day, last_day = u.last_day, days_seen = u.days_seen
                     FROM unnest($1::text[], $2::uuid[], $3::date[], $4::date[], $5::bigint[])
                          AS u(product, install_id, first_day, last_day, days_seen)
                    WHERE a.product = u.product AND a.install_id = u.install_id""",
                products,
                installs,
                firsts,
                lasts,
                masks,
            )

    async def _save_active(self, delta: RollupDelta) -> int:
        items = sorted((k, v) for k, v in delta.active.items() if v[0] or v[1])
        if not items:
            return 0
        cols = list(zip(*[(*k, v[0], v[1]) for k, v in items], strict=True))
        await self._conn.execute(
            """INSERT INTO rollup_active_installs AS r
                      (day, product, version, platform, os, arch, installs, pings)
               SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::bigint[], $8::bigint[])
               ON CONFLICT (day, product, version, platform, os, arch) DO UPDATE
                  SET installs = r.installs + excluded.installs, pings = r.pings + excluded.pings""",
            *[list(c) for c in cols],
        )
        return len(items)

    async def _save_attrs(self, delta: RollupDelta) -> int:
        items = sorted((k, v) for k, v in delta.attrs.items() if v)
        if not items:
            return 0
        cols = list(zip(*[(*k, v) for k, v in items], strict=True))
        await self._conn.execute(
            """INSERT INTO rollup_attr_values AS r (day, product, attr, value, installs)
               SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
               ON CONFLICT (day, product, attr, value) DO UPDATE
                  SET installs = r.installs + excluded.installs""",
            *[list(c) for c in cols],
        )
        return len(items)

    async def _save_events(self, delta: RollupDelta) -> int:
        items = sorted((k, v) for k, v in delta.events.items() if v)
        if not items:
            return 0
        cols = list(zip(*[(*k, v) for k, v in items], strict=True))
        await self._conn.execute(
            """INSERT INTO rollup_events AS r (day, product, event, dimensions, events)
               SELECT d, p, e, dims::jsonb, n
                 FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                      AS u(d, p, e, dims, n)
               ON CONFLICT (day, product, event, dimensions) DO UPDATE
                  SET events = r.events + excluded.events""",
            *[list(c) for c in cols],
        )
        return len(items)

    async def _save_activity(self, rows: ActivityRows) -> int:
        items = sorted(rows.items())
        if not items:
            return 0
        cols = list(zip(*[(*k, *v) for k, v in items], strict=True))
        await self._conn.execute(
            """INSERT INTO rollup_activity AS r (day, product, dau, wau, mau, new_installs)
               SELECT * FROM unnest($1::date[], $2::text[], $3::bigint[], $4::bigint[],
                                    $5::bigint[], $6::bigint[])
               ON CONFLICT (day, product) DO UPDATE
                  SET dau = r.dau + excluded.dau, wau = r.wau + excluded.wau,
                      mau = r.mau + excluded.mau,
                      new_installs = r.new_installs + excluded.new_installs""",
            *[list(c) for c in cols],
        )
        return len(items)

    async def _save_counts(self, delta: RollupDelta) -> int:
        items = sorted(delta.counts.items())
        if not items:
            return 0

        args: list[list[Any]] = [
            [k[0] for k, _ in items],
            [k[1] for k, _ in items],
            [k[2] for k, _ in items],
            [d.installs for _, d in items],
            [d.sum for _, d in items],
            ["{" + ",".join(map(str, d.histogram)) + "}" for _, d in items],
            [d.added_min for _, d in items],
            [d.added_min_n for _, d in items],
            [d.added_max for _, d in items],
            [d.added_max_n for _, d in items],
            [d.removed_min for _, d in items],
            [d.removed_min_n for _, d in items],
            [d.removed_max for _, d in items],
            [d.removed_max_n for _, d in items],
        ]
        # Existing rows: add the delta; an extreme's install count drops by the installs that
        # left it. New rows: only additions are possible. Rows whose extreme lost its last
        # install come back with 0 there and are recomputed from install_days below.
        rows = await self._conn.fetch(
            """WITH d AS (
                 SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bigint[],
                                      $5::numeric[], $6::text[], $7::bigint[], $8::bigint[],
                                      $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
                                      $13::bigint[], $14::bigint[])
                   AS d(day, product, count_key, installs, sum, histogram, amin, amin_n,
                        amax, amax_n, rmin, rmin_n, rmax, rmax_n)),
               updated AS (
                 UPDATE rollup_counts r
                    SET installs = r.installs + d.installs,
                        sum = r.sum + d.sum,
                        histogram = ARRAY(
                            SELECT coalesce(a, 0) + coalesce(b, 0)
                              FROM unnest(r.histogram, d.histogram::bigint[])
                                   WITH ORDINALITY AS h(a, b, i) ORDER BY i),
                        min = CASE WHEN d.amin < r.min THEN d.amin ELSE r.min END,
                        min_installs = CASE
                            WHEN d.amin < r.min THEN d.amin_n
                            WHEN d.amin = r.min THEN r.min_installs
                                 - CASE WHEN d.rmin = r.min THEN d.rmin_n ELSE 0 END + d.amin_n
                            ELSE r.min_installs
                                 - CASE WHEN d.rmin = r.min THEN d.rmin_n ELSE 0 END END,
                        max = CASE WHEN d.amax > r.max THEN d.amax ELSE r.max END,
                        max_installs = CASE
                            WHEN d.amax > r.max THEN d.amax_n
                            WHEN d.amax = r.max THEN r.max_installs
                                 - CASE WHEN d.rmax = r.max THEN d.rmax_n ELSE 0 END + d.amax_n
                            ELSE r.max_installs
                                 - CASE WHEN d.rmax = r.max THEN d.rmax_n ELSE 0 END END
                   FROM d
                  WHERE r.day = d.day AND r.product = d.product AND r.count_key = d.count_key
                 RETURNING r.day, r.product, r.count_key, r.installs, r.min_installs,
                           r.max_installs),
               inserted AS (
                 INSERT INTO rollup_counts (day, product, count_key, installs, sum, min, max,
                                            histogram, min_installs, max_installs)
                 SELECT d.day, d.product, d.count_key, d.installs, d.sum, d.amin, d.amax,
                        d.histogram::bigint[], d.amin_n, d.amax_n
                   FROM d
                  WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.day = d.day
                                    AND u.product = d.product AND u.count_key = d.count_key)
                 RETURNING day)
               SELECT day, product, count_key FROM updated
                WHERE installs > 0 AND (min_installs <= 0 OR max_installs <= 0)""",
            *args,
        )
        if rows:
            await self._conn.execute(
                """UPDATE rollup_counts r
                      SET min = x.mn, max = x.mx, min_installs = x.mn_n, max_installs = x.mx_n
                     FROM (SELECT k.day, k.product, k.count_key, s.mn, s.mx,
                                  (SELECT count(*) FROM install_days d
                                    WHERE d.day = k.day AND d.product = k.product
                                      AND (d.counts ->> k.count_key)::bigint = s.mn) AS mn_n,
                                  (SELECT count(*) FROM install_days d
                                    WHERE d.day = k.day AND d.product = k.product
                                      AND (d.counts ->> k.count_key)::bigint = s.mx) AS mx_n
                             FROM unnest($1::date[], $2::text[], $3::text[])
                                  AS k(day, product, count_key)
                            CROSS JOIN LATERAL (
                                SELECT min((d.counts ->> k.count_key)::bigint) AS mn,
                                       max((d.counts ->> k.count_key)::bigint) AS mx
                                  FROM install_days d
                                 WHERE d.day = k.day AND d.product = k.product
                                   AND d.counts ? k.count_key) AS s) AS x
                    WHERE r.day = x.day AND r.product = x.product AND r.count_key = x.count_key
                      AND x.mn IS NOT NULL""",
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
            )
        return len(items)


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + _json_encode(value)  # jsonb's binary format: a version byte, then JSON


def _decode_jsonb(data: bytes) -> Any:
    return msgspec.json.decode(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary, so that COPY (which asyncpg speaks in binary only) can carry jsonb columns.
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


class PgRollupStore:
    """The RollupStore on PostgreSQL; reconnects lazily after a connection is lost."""

    def __init__(self, dsn: str, *, connect_timeout_s: float, statement_timeout_s: float) -> None:
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_s = statement_timeout_s
        self._conn: asyncpg.Connection | None = None
        self._ensured: set[tuple[str, dt.date]] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        await self._drop()
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout_s,
                server_settings={
                    "application_name": "census-aggregator",
                    # Safe for exactly-once: a commit lost in a server crash loses its offsets
                    # with it, and the records are replayed from Kafka.
                    "synchronous_commit": "off",
                    # Every bulk read and update here joins a batch's keys to a primary key. At
                    # the default cost (4) the planner hashes the whole day partition or the
                    # whole install_activity table instead: a full scan per flush that grows
                    # with the fleet (2-3x slower at 1M installs, measured). The hot pages are
                    # cached, which is what a cost near 1 says.
                    "random_page_cost": "1.1",
                    "statement_timeout": str(int(self._statement_timeout_s * 1000)),
                    "lock_timeout": str(int(self._statement_timeout_s * 1000)),
                },
            )
            await _init_connection(conn)
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            raise _store_error(exc) from exc
        self._conn = conn
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def ensure_days(self, days: set[dt.date], *, events_only: set[dt.date]) -> None:
        wanted: dict[str, set[dt.date]] = {t: set(days) for t in DAY_TABLES}
        wanted["rollup_events"] |= events_only
        wanted["rollup_activity"] = {
            d + dt.timedelta(days=i) for d in days for i in range(ACTIVITY_AHEAD + 1)
        }
        missing = {
            table: sorted(d for d in ds if (table, d) not in self._ensured)
            for table, ds in wanted.items()
        }
        if not any(missing.values()):
            return
        conn = await self._connection()
        created = 0
        try:
            for table, ds in missing.items():
                if ds:
                    # Reads the catalog only while retention keeps partitions ahead (the steady
                    # state); a CREATE here would lock the table against writers and readers.
                    created += await conn.fetchval(
                        "SELECT census_ensure_day_partitions($1, $2, $3)", table, ds[0], ds[-1]
                    )
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            await self._on_error(exc)
            raise _store_error(exc) from exc
        if created:
            log.warning(
                "created %d day partition(s) in the flush path: retention is not keeping "
                "partitions ahead (is census retention running?)",
                created,
            )
        for table, ds in missing.items():
            self._ensured.update((table, d) for d in ds)

    async def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, RETRYABLE) or self._conn is None or self._conn.is_closed():
            await self._drop()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        conn = await self._connection()
        try:
            async with conn.transaction():
                yield PgTx(conn)
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            await self._on_error(exc)
            raise _store_error(exc) from exc

    async def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        conn = await self._connection()
        try:
            rows = await conn.fetch(
                """SELECT partition, next_offset FROM consumer_offsets
                    WHERE consumer_group = $1 AND topic = $2""",
                group,
                topic,
            )
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            await self._on_error(exc)
            raise _store_error(exc) from exc
        return {r[0]: r[1] for r in rows}

    async def check(self) -> None:
        conn = await self._connection()
        try:
            await conn.fetchval("SELECT 1")
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            await self._on_error(exc)
            raise _store_error(exc) from exc

    async def claim_source(self, source: Source) -> None:
        conn = await self._connection()
        try:
            row = await conn.fetchrow(
                """INSERT INTO rollup_source (consumer_group, topic, partitions)
                   VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                   RETURNING consumer_group, topic, partitions""",
                source.group,
                source.topic,
                source.partitions,
            )
            if row is None:  # recorded before (a statement of its own: it sees a racing insert)
                row = await conn.fetchrow(
                    "SELECT consumer_group, topic, partitions FROM rollup_source"
                )
        except (*RETRYABLE, asyncpg.PostgresError) as exc:
            await self._on_error(exc)
            raise _store_error(exc) from exc
        if row is None:
            raise StoreError("rollup_source has no row after an insert", retryable=True)
        recorded = Source(row[0], row[1], row[2])
        if recorded != source:
            raise SourceConflict(recorded, source)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                conn.terminate()

    async def __aenter__(self) -> PgRollupStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
