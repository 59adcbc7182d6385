"""The boundary to the rollup database: a RollupStore opens FlushTx transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from services.aggregator.activity import Activity, ActivityKey
from services.aggregator.dedup import StoredIds
from services.aggregator.rollup import DayKey, InstallDay, RollupDelta

ActivityRows = Mapping[tuple[dt.date, str], tuple[int, int, int, int]]
"""Per (day, product): (dau, wau, mau, new_installs) to add."""


class StoreError(Exception):
    """The store failed; `retryable` says whether the same flush may be tried again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class FencedError(StoreError):
    """The stored offsets are not where this consumer left them: another consumer owns the
    partitions now (or did in between). The batch is dropped and the partitions re-sought."""

    def __init__(self, partitions: list[int]) -> None:
        super().__init__(f"stored offsets moved for partitions {partitions}", retryable=False)
        self.partitions = partitions


@dataclass(frozen=True, slots=True)
class OffsetClaim:
    """Where this consumer believes a partition's stored offset is (None: no row yet), and the
    offset to store after this flush."""

    partition: int
    expected: int | None
    next_offset: int


class FlushTx(Protocol):
    """One flush's transaction; leaving the `async with` normally commits it."""

    async def fence(self, group: str, topic: str, claims: list[OffsetClaim]) -> None:
        """Lock the partitions' offset rows and move them, or raise FencedError."""

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
    ) -> int:
        """Write rows and apply deltas; returns how many rows were written."""


class RollupStore(Protocol):
    async def ensure_days(self, days: set[dt.date], *, events_only: set[dt.date]) -> None:
        """Make sure the day partitions a flush with pings of `days` writes to exist, and those
        of rollup_events only for `events_only` (days past the per-install horizon)."""

    def transaction(self) -> AbstractAsyncContextManager[FlushTx]: ...

    async def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        """next_offset per partition stored for the group and topic."""

    async def check(self) -> None:
        """Raise StoreError when the database cannot be reached."""
