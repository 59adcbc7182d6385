"""The boundary to the rollup database: a RollupStore opens FlushTx transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from services.aggregator.activity import Activity, ActivityKey
from services.aggregator.dedup import StoredIds
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta

ActivityRows = Mapping[tuple[dt.date, str], tuple[int, int, int, int]]
"""Per (day, product): (dau, wau, mau, new_installs) to add."""


class StoreError(Exception):
    """The store failed; `retryable` says whether the same flush may be tried again, and
    `record_error` whether the database refused a value the flush's records carry (an invalid
    byte, a value out of range, a check violation): the same records will fail again, other
    records would not."""

    def __init__(self, message: str, *, retryable: bool, record_error: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.record_error = record_error


class FencedError(StoreError):
    """The stored offsets are not where this consumer left them: another consumer owns the
    partitions now (or did in between). The batch is dropped and the partitions re-sought."""

    def __init__(self, partitions: list[int]) -> None:
        super().__init__(f"stored offsets moved for partitions {partitions}", retryable=False)
        self.partitions = partitions


@dataclass(frozen=True, slots=True)
class Source:
    """Where a database's rollups come from: one consumer group reading one topic of a fixed
    partition count. The key (install_id) decides the partition, so only while all three stay
    the same does one install have one writer, whose rows it reads and writes back whole."""

    group: str
    topic: str
    partitions: int


class SourceConflict(Exception):
    """The database's rollups come from another source than this consumer would be; counting
    would drift for good, so the consumer refuses to run."""

    def __init__(self, recorded: Source, offered: Source) -> None:
        super().__init__(
            f"this database counts group {recorded.group!r} reading {recorded.topic!r} with"
            f" {recorded.partitions} partitions, not group {offered.group!r} reading"
            f" {offered.topic!r} with {offered.partitions} partitions"
            " (see services/aggregator/README.md, 'One writer per install')"
        )
        self.recorded = recorded
        self.offered = offered


@dataclass(frozen=True, slots=True)
class OffsetClaim:
    """Where this consumer believes a partition's stored offset is (None: no row yet), and the
    offset to store after this flush."""

    partition: int
    expected: int | None
    next_offset: int


class FlushTx(Protocol):
    """One flush's transaction; leaving the `async with` normally commits it.

    The transaction remembers which rows its loads found: `save` updates the install days and
    activity rows that `load_days` / `load_activity` returned on the same FlushTx and inserts
    the others. So a flush loads every key it saves first, on one FlushTx, in one transaction
    (the fence's row locks make those rows this consumer's until the commit).
    """

    async def fence(self, group: str, topic: str, claims: list[OffsetClaim]) -> None:
        """Lock the partitions' offset rows and move them forward, or raise FencedError when a
        row is not at `expected` or a claim would move it backward (or not at all)."""

    async def load_days(self, keys: list[DayKey]) -> dict[DayKey, InstallDay]:
        """The stored install days among `keys`, with the ids of the pings counted in them."""

    async def load_ping_ids(self, keys: list[DayKey]) -> dict[DayKey, StoredIds]:
        """Only the ids (ping_ids, retry_ids) of the stored install days among `keys`."""

    async def load_activity(self, keys: list[ActivityKey]) -> dict[ActivityKey, Activity]: ...

    async def save(
        self,
        days: Mapping[DayKey, InstallDay],
        activity: Mapping[ActivityKey, Activity],
        delta: RollupDelta,
        activity_delta: ActivityRows,
        *,
        before_rollups: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Write rows and apply deltas; returns how many rows were written. `before_rollups` is
        awaited once the per-install rows are written, before the first rollup row is."""


class RollupStore(Protocol):
    async def ensure_days(self, days: set[dt.date], *, events_only: set[dt.date]) -> None:
        """Make sure the day partitions a flush with pings of `days` writes to exist, and those
        of rollup_events only for `events_only` (days past the per-install horizon)."""

    def transaction(self) -> AbstractAsyncContextManager[FlushTx]: ...

    async def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        """next_offset per partition stored for the group and topic."""

    async def check(self) -> None:
        """Raise StoreError when the database cannot be reached."""

    async def claim_source(self, source: Source) -> None:
        """Record `source` as the database's if it has none yet; raise SourceConflict when it
        records another one (StoreError when the database cannot be reached)."""
