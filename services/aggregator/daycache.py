"""The install days this replica committed itself, remembered so a flush need not read them back.

A partition's installs have one writer at a time, fenced by consumer_offsets (DESIGN §5), so
the rows it committed are the rows in the database for as long as it keeps the partition. The
store forgets everything whenever that could stop being true: a failed or rolled-back
transaction, a lost connection (an asynchronous commit can be lost with the server), and every
rebalance (`RollupStore.forget`). What remains unsure is checked where it is used: an update of
a remembered row that no longer exists (retention dropped its day, someone deleted it) fails the
flush, which is then retried from what the database holds.

Bounded: past `limit` rows, the rows written longest ago are forgotten first. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.aggregator.rollup import DayKey, InstallDay


class DayCache:
    """At most `limit` install days as last committed, by key; `limit` 0 remembers nothing."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rows: dict[DayKey, InstallDay] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def split(self, keys: Iterable[DayKey]) -> tuple[dict[DayKey, InstallDay], list[DayKey]]:
        """The remembered rows among `keys`, and the keys to read from the database."""
        rows = self._rows
        if not rows:
            return {}, list(keys)
        found: dict[DayKey, InstallDay] = {}
        missing: list[DayKey] = []
        for key in keys:
            row = rows.get(key)
            if row is None:
                missing.append(key)
            else:
                found[key] = row
        return found, missing

    def committed(self, written: Mapping[DayKey, InstallDay]) -> None:
        """Remember the rows a transaction wrote, once it committed. The flush never mutates a
        row it was given (dedup.remember, rollup.merge_days), so they are kept as they are."""
        if self._limit <= 0 or not written:
            return
        rows = self._rows
        for key, row in written.items():
            rows.pop(key, None)  # moved to the end: the order is the order of writing
            rows[key] = row
        excess = len(rows) - self._limit
        if excess > 0:
            for key in list(_first(rows, excess)):
                del rows[key]

    def clear(self) -> None:
        self._rows.clear()


def _first(rows: dict[DayKey, InstallDay], count: int) -> Iterable[DayKey]:
    for index, key in enumerate(rows):
        if index >= count:
            return
        yield key
