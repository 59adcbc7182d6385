"""One retention pass: under the advisory lock, create partitions ahead, drop the expired ones,
delete expired rows where nothing can be dropped. Each step is its own transaction, retried with
backoff; a step that still fails is reported and left for the next pass."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from services.common.lifecycle import wait_or_stop
from services.retention.errors import ConnectionLost, StepFailed, is_connection_error, is_retryable
from services.retention.metrics import RetentionMetrics
from services.retention.plan import (
    Clock,
    DayPartition,
    Horizons,
    Plan,
    TableState,
    plan_pass,
    utc_today,
)
from services.retention.render import render_plan
from services.retention.store import RegistryError, RetentionStore

log = logging.getLogger(__name__)

T = TypeVar("T")

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclasses.dataclass(frozen=True, slots=True)
class PassOptions:
    horizons: Horizons = dataclasses.field(default_factory=Horizons)
    ahead_days: int = 7
    step_attempts: int = 4
    retry_backoff_s: float = 0.5
    delete_batch: int = 5000


@dataclasses.dataclass(slots=True)
class PassReport:
    skipped: bool = False
    stopped: bool = False
    created: int = 0
    dropped: int = 0
    rows_purged: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    leftovers: list[Leftover] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


async def read_plan(store: RetentionStore, options: PassOptions, clock: Clock) -> Plan:
    """The catalog as it is now, turned into this pass's plan."""
    states: list[TableState] = []
    for entry in await store.registered_tables():
        states.append(await store.table_state(entry))
    return plan_pass(states, options.horizons, utc_today(clock), options.ahead_days)


async def count_expired_rows(store: RetentionStore, plan: Plan) -> dict[str, int]:
    """Exact rows past the horizon in each partition a DELETE purges, and in each row table."""
    expired: dict[str, int] = {}
    for t in plan.tables:
        for partition in t.purged_by_delete:
            expired[partition] = await store.count_expired(
                t.table, t.day_column, t.keep_from, partition
            )
    for r in plan.row_purges:
        expired[r.table] = await store.count_expired(r.table, r.day_column, r.keep_from, None)
    return expired


@dataclasses.dataclass(frozen=True, slots=True)
class Leftover:
    """What is still past the horizon in one table after a pass: the partitions (or the row
    table) that hold such rows, and how many rows, counted exactly."""

    table: str
    partitions: tuple[str, ...]
    rows: int


async def leftovers(store: RetentionStore, options: PassOptions, clock: Clock) -> list[Leftover]:
    """Everything past the horizon the catalog still shows, per table (empty ones included)."""
    plan = await read_plan(store, options, clock)
    expired = await count_expired_rows(store, plan)
    found: list[Leftover] = []
    for t in plan.tables:
        # A partition still there that should have been dropped whole: counted exactly (it is
        # rare, and pg_class.reltuples is 0 until the partition was analysed).
        for p in t.drop:
            expired[p.name] = await store.count_expired(t.table, t.day_column, t.keep_from, p.name)
        candidates = (*(p.name for p in t.drop), *t.purged_by_delete)
        names = tuple(name for name in candidates if expired.get(name, 0) > 0)
        found.append(Leftover(t.table, names, sum(expired[n] for n in names)))
    for r in plan.row_purges:
        rows = expired.get(r.table, 0)
        found.append(Leftover(r.table, (r.table,) if rows else (), rows))
    return found


async def dry_run(store: RetentionStore, options: PassOptions, clock: Clock) -> str:
    """The text of what a pass would do now; reads only."""
    plan = await read_plan(store, options, clock)
    return render_plan(plan, await count_expired_rows(store, plan))


class RetentionPass:
    """Runs one pass; `stop` ends it after the current step."""

    def __init__(
        self,
        store: RetentionStore,
        options: PassOptions,
        metrics: RetentionMetrics,
        clock: Clock,
        stop: asyncio.Event,
    ) -> None:
        self._store = store
        self._options = options
        self._metrics = metrics
        self._clock = clock
        self._stop = stop
        self._report = PassReport()

    async def run(self) -> PassReport:
        if not await self._store.try_lock():
            log.info("another retention worker holds the lock; skipping this pass")
            self._metrics.skipped_passes.inc()
            return PassReport(skipped=True)
        started = time.monotonic()
        session_lost = False
        try:
            await self._run_locked()
        except ConnectionLost as exc:
            # The session is gone, and the advisory lock with it: nothing to release.
            session_lost = True
            self._fail("pass", str(exc))
        finally:
            self._metrics.pass_duration.observe(time.monotonic() - started)
            if not session_lost:
                await self._unlock()
        if self._report.ok and not self._report.stopped:
            self._metrics.last_success.set(time.time())
        return self._report

    async def _unlock(self) -> None:
        try:
            await self._store.unlock()
        except _DB_ERRORS as exc:
            # Closing the session releases it anyway; the caller closes it after the pass.
            log.warning("could not release the retention lock: %s", exc)

    def _fail(self, step: str, message: str) -> None:
        log.error("retention %s failed: %s", step, message)
        self._metrics.failures.labels(step).inc()
        self._report.failures.append(message)

    def _stopping(self) -> bool:
        if self._stop.is_set():
            self._report.stopped = True
        return self._report.stopped

    async def _run_locked(self) -> None:
        try:
            plan = await read_plan(self._store, self._options, self._clock)
        except (*_DB_ERRORS, RegistryError) as exc:
            if is_connection_error(exc):
                raise ConnectionLost(f"connection lost while reading the catalog: {exc}") from exc
            self._fail("plan", f"reading the partition catalog: {type(exc).__name__}: {exc}")
            return
        for t in plan.tables:
            for day in t.create:
                if self._stopping():
                    return
                created = await self._step("create", t.table, self._create(t.table, day))
                if created is not None:
                    self._report.created += created
                    self._metrics.partitions_created.labels(t.table).inc(created)
        for t in plan.tables:
            for p in t.drop:
                if self._stopping():
                    return
                dropped = await self._step("drop", t.table, self._drop(t.table, p, t.keep_from))
                if dropped:
                    log.info("dropped %s (%s, ~%d rows)", p.name, p.describe(), p.estimated_rows)
                    self._report.dropped += 1
                    self._report.rows_purged += p.estimated_rows
                    self._metrics.partitions_dropped.labels(t.table).inc()
                    self._metrics.rows_purged.labels(t.table, "drop").inc(p.estimated_rows)
            for partition in t.purged_by_delete:
                await self._delete(t.table, t.day_column, t.keep_from, partition)
        for r in plan.row_purges:
            await self._delete(r.table, r.day_column, r.keep_from, None)
        if not self._stopping():
            await self._check_leftovers()
        log.info(
            "retention pass done: %d partition(s) created, %d dropped, ~%d row(s) purged",
            self._report.created,
            self._report.dropped,
            self._report.rows_purged,
        )

    async def _check_leftovers(self) -> None:
        """Count what is still past the horizon; any of it is a failure of this pass (so it is
        alerted on and retried), reported per table."""
        try:
            found = await leftovers(self._store, self._options, self._clock)
        except (*_DB_ERRORS, RegistryError) as exc:
            if is_connection_error(exc):
                raise ConnectionLost(f"connection lost while checking leftovers: {exc}") from exc
            self._fail("check", f"counting rows past the horizon: {type(exc).__name__}: {exc}")
            return
        for left in found:
            self._metrics.unpurged_partitions.labels(left.table).set(len(left.partitions))
            self._metrics.unpurged_rows.labels(left.table).set(left.rows)
            if left.partitions:
                self._report.leftovers.append(left)
                self._fail(
                    "check",
                    f"{left.table}: {left.rows} row(s) past the horizon could not be purged, in "
                    + ", ".join(left.partitions),
                )

    def _create(self, table: str, day: dt.date) -> Callable[[], Awaitable[int]]:
        return lambda: self._store.create_partition(table, day)

    def _drop(
        self, table: str, partition: DayPartition, keep_from: dt.date
    ) -> Callable[[], Awaitable[bool]]:
        return lambda: self._store.drop_partition(table, partition.name, keep_from)

    async def _delete(
        self, table: str, column: str, keep_from: dt.date, partition: str | None
    ) -> None:
        batch = self._options.delete_batch

        def one_batch() -> Awaitable[int]:
            return self._store.delete_batch(table, column, keep_from, batch, partition)

        total = 0
        while not self._stopping():
            deleted = await self._step("delete", table, one_batch)
            if deleted is None:
                break
            total += deleted
            self._report.rows_purged += deleted
            self._metrics.rows_purged.labels(table, "delete").inc(deleted)
            if deleted < batch:
                break
        if total:
            log.info("deleted %d expired row(s) of %s", total, partition or table)

    async def _step(self, step: str, table: str, action: Callable[[], Awaitable[T]]) -> T | None:
        """Run `action` with retries; None (and a recorded failure) if it never succeeded."""
        delay = self._options.retry_backoff_s
        attempts = self._options.step_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await action()
            except _DB_ERRORS as exc:
                if is_connection_error(exc):
                    raise ConnectionLost(
                        f"connection lost during {step} on {table}: {exc}"
                    ) from exc
                failed = StepFailed(step, table, exc, attempt)
                if not is_retryable(exc) or attempt == attempts:
                    self._fail(step, str(failed))
                    return None
                log.warning("%s; retrying in %.1fs", failed, delay)
                if await wait_or_stop(self._stop, delay):
                    self._report.stopped = True
                    self._fail(step, str(failed))
                    return None
                delay *= 2
        return None
