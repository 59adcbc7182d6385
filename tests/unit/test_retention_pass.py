"""A retention pass against a fake store: steps, retries with backoff, skips and failures."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
from prometheus_client import CollectorRegistry

from services.retention.metrics import RetentionMetrics
from services.retention.plan import DayPartition, RegisteredTable, TableState
from services.retention.store import RegistryError
from services.retention.worker import PassOptions, RetentionPass

TODAY = dt.date(2025, 1, 2)
NOW = dt.datetime(2025, 1, 2, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


class LockTimeout(asyncpg.exceptions.LockNotAvailableError):
    def __init__(self) -> None:
        super().__init__("canceling statement due to lock timeout")


class FakeStore:
    """In-memory partitions of one 'install' table; `lock_failures` days refuse their lock."""

    def __init__(self, days: list[dt.date], *, locked: bool = False) -> None:
        self.days = set(days)
        self.locked_elsewhere = locked
        self.lock_failures: dict[dt.date, int] = {}
        self.unlocked = 0
        self.activity = [TODAY - 200 * DAY] * 7 + [TODAY]

    async def try_lock(self) -> bool:
        return not self.locked_elsewhere

    async def unlock(self) -> None:
        self.unlocked += 1

    async def registered_tables(self) -> list[RegisteredTable]:
        return [RegisteredTable("install_days", "install")]

    async def table_state(self, entry: RegisteredTable) -> TableState:
        parts = tuple(
            DayPartition(f"{entry.table}_p{d:%Y%m%d}", d, d + DAY, 10) for d in sorted(self.days)
        )
        return TableState(entry.table, entry.horizon_class, parts)

    async def create_partition(self, table: str, day: dt.date) -> int:
        self.days.add(day)
        return 1

    async def drop_partition(self, table: str, partition: str, keep_from: dt.date) -> bool:
        day = dt.datetime.strptime(partition[-8:], "%Y%m%d").date()
        assert day + DAY <= keep_from, "asked to drop a partition inside the horizon"
        if self.lock_failures.get(day, 0) > 0:
            self.lock_failures[day] -= 1
            raise LockTimeout()
        self.days.discard(day)
        return True

    async def delete_batch(
        self, table: str, column: str, keep_from: dt.date, limit: int, partition: str | None
    ) -> int:
        doomed = [d for d in self.activity if d < keep_from][:limit]
        for d in doomed:
            self.activity.remove(d)
        return len(doomed)

    async def count_expired(
        self, table: str, column: str, keep_from: dt.date, partition: str | None
    ) -> int:
        if partition is not None:  # one of install_days' partitions: 10 rows each
            day = dt.datetime.strptime(partition[-8:], "%Y%m%d").date()
            return 10 if day in self.days and day < keep_from else 0
        return sum(d < keep_from for d in self.activity)


def make_pass(store: FakeStore, registry: CollectorRegistry, **options: int) -> RetentionPass:
    opts = PassOptions(ahead_days=2, retry_backoff_s=0.001, delete_batch=3, **options)  # type: ignore[arg-type]
    return RetentionPass(store, opts, RetentionMetrics(registry), lambda: NOW, asyncio.Event())


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_pass_creates_ahead_drops_past_and_deletes_in_batches() -> None:
    days = [TODAY - i * DAY for i in range(95)]
    store = FakeStore(days)
    registry = CollectorRegistry()
    report = await make_pass(store, registry).run()
    assert report.ok and not report.skipped
    assert min(store.days) == TODAY - 89 * DAY
    assert max(store.days) == TODAY + 2 * DAY
    assert (report.created, report.dropped) == (2, 5)
    assert store.activity == [TODAY]
    assert (
        value(
            registry,
            "census_retention_rows_purged_total",
            table="install_activity",
            method="delete",
        )
        == 7
    )
    assert (
        value(registry, "census_retention_rows_purged_total", table="install_days", method="drop")
        == 50
    )
    assert value(registry, "census_retention_last_success_timestamp_seconds") > 0
    assert store.unlocked == 1
    # Nothing is left past the horizon, and the gauges the alert watches say so.
    assert report.leftovers == []
    for table in ("install_days", "install_activity"):
        assert registry.get_sample_value("census_retention_unpurged_rows", {"table": table}) == 0
        assert (
            registry.get_sample_value("census_retention_unpurged_partitions", {"table": table}) == 0
        )


async def test_lock_timeouts_are_retried_then_left_for_the_next_pass() -> None:
    old = TODAY - 100 * DAY
    store = FakeStore([old, old + DAY, TODAY])
    store.lock_failures = {old: 2, old + DAY: 99}
    registry = CollectorRegistry()
    report = await make_pass(store, registry, step_attempts=3).run()
    assert old not in store.days  # succeeded on its third attempt
    assert old + DAY in store.days  # gave up after three, kept for the next pass
    assert len(report.failures) == 2 and "drop on install_days failed after 3" in report.failures[0]
    assert value(registry, "census_retention_failures_total", step="drop") == 1
    # What is left past the horizon is reported by name, and measured for the alert.
    left = f"install_days_p{old + DAY:%Y%m%d}"
    assert "could not be purged" in report.failures[1] and left in report.failures[1]
    assert [(x.table, x.partitions) for x in report.leftovers] == [("install_days", (left,))]
    assert value(registry, "census_retention_failures_total", step="check") == 1
    gauge = "census_retention_unpurged_partitions"
    assert value(registry, gauge, table="install_days") == 1
    assert value(registry, "census_retention_unpurged_rows", table="install_days") == 10
    assert value(registry, "census_retention_last_success_timestamp_seconds") == 0
    assert store.unlocked == 1


async def test_a_second_worker_skips_and_says_so() -> None:
    store = FakeStore([TODAY - 100 * DAY], locked=True)
    registry = CollectorRegistry()
    report = await make_pass(store, registry).run()
    assert report.skipped
    assert TODAY - 100 * DAY in store.days
    assert value(registry, "census_retention_skipped_passes_total") == 1
    assert store.unlocked == 0


async def test_stop_ends_the_pass_after_the_current_step() -> None:
    store = FakeStore([TODAY - i * DAY for i in range(100)])
    registry = CollectorRegistry()
    worker = make_pass(store, registry)
    stop = worker._stop
    original = store.drop_partition

    async def drop_then_stop(table: str, partition: str, keep_from: dt.date) -> bool:
        stop.set()
        return await original(table, partition, keep_from)

    store.drop_partition = drop_then_stop  # type: ignore[method-assign]
    report = await worker.run()
    assert report.stopped and report.dropped == 1
    assert store.unlocked == 1


async def test_an_unusable_registry_fails_the_pass_and_touches_nothing() -> None:
    store = FakeStore([TODAY - 100 * DAY])

    async def broken(entry: RegisteredTable) -> TableState:
        raise RegistryError(f"{entry.table}: not range-partitioned by a single day column")

    store.table_state = broken  # type: ignore[method-assign]
    registry = CollectorRegistry()
    report = await make_pass(store, registry).run()
    assert not report.ok and "not range-partitioned" in report.failures[0]
    assert store.days == {TODAY - 100 * DAY}
    assert value(registry, "census_retention_failures_total", step="plan") == 1
    assert store.unlocked == 1
