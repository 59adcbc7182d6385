"""Pure accumulation: records into install days, and install days into exact rollup deltas.

Semantics (docs/analysts.md): the day of a ping is the UTC date of its `received_at` (the server's
clock; a client's `sent_at` may be wrong or missing). An install counts once per day and rollup
key, under its *day state*: the union of what it said that day, field by field. Each of version,
platform, os, arch and every attr and count key holds the last *known* value of the day: the value
of the last ping (in consumption order, which is the order ingest received the install's pings)
that carried it; `unknown` (schemas.ping.UNKNOWN) and an absent key are not known and never
replace a known value. This union is associative, so any batching gives the same rows. When a
ping changes the day state, the install moves from its old rollup keys to the new ones; its ping
total moves with it. Events are counted per ping, under the ping's own dimension values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import UNKNOWN
from schemas.record import PingRecord
from services.aggregator.histogram import BUCKETS

DayKey = tuple[dt.date, str, uuid.UUID]
"""(day, product, install_id): one row of install_days."""
ActiveKey = tuple[dt.date, str, str, str, str, str]
"""(day, product, version, platform, os, arch)."""
AttrKey = tuple[dt.date, str, str, str]
"""(day, product, attr, value) with booleans as 'true' / 'false'."""
CountKey = tuple[dt.date, str, str]
"""(day, product, count_key)."""
EventKey = tuple[dt.date, str, str, str]
"""(day, product, event, dimensions as canonical JSON)."""

_JSON = msgspec.json.Encoder(order="sorted")
T = TypeVar("T")


def utc_day(moment: dt.datetime) -> dt.date:
    """The day a ping belongs to: the UTC date of the server's receive time."""
    if moment.tzinfo is dt.UTC or moment.tzinfo is None:  # msgspec decodes "Z" to dt.UTC
        return moment.date()
    return moment.astimezone(dt.UTC).date()


def _text_or_none(value: str | bool | None) -> str | None:
    return None if value is None else attr_text(value)


def attr_text(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def union(old: dict[str, T], new: dict[str, T]) -> dict[str, T]:
    """`old`'s entries with `new`'s over them. Never mutates either; returns one of them when it
    holds the whole union (the usual case: a client sends the same keys every time)."""
    if not new or old is new:
        return old
    if not old or (len(new) >= len(old) and new.keys() >= old.keys()):
        return new
    return {**old, **new}


# A Struct, not a dataclass: made in C when PostgreSQL's rows are decoded (pgstore reads them as
# one JSON array per statement, array_like), and untracked by the cyclic collector (gc=False: it
# refers to strings, dicts of scalars, datetimes and bytes only).
class InstallDay(msgspec.Struct, array_like=True, gc=False):
    """An install's day: its day state (the union of its pings) and totals (a row of install_days)."""

    version: str
    platform: str
    os: str
    arch: str
    attrs: dict[str, str | bool]
    counts: dict[str, int]
    pings: int
    first_ping: dt.datetime
    last_ping: dt.datetime
    ping_ids: bytes = b""
    """Client-sent ids of the latest pings counted in this row (services.aggregator.dedup)."""
    retry_ids: bytes = b""
    """Derived ids sighted lately in this row, each with its last sighting (dedup)."""


def reduce_days(
    records: Sequence[PingRecord], days: Sequence[dt.date] | None = None
) -> dict[DayKey, InstallDay]:
    """Fold records, in consumption order, into one InstallDay per (day, product, install).

    `days` are the records' UTC days when the caller has them already. A record's attrs and
    counts dicts are shared, never copied or mutated (`union` makes new dicts). Ping ids are
    dedup's business, not this fold's.
    """
    if days is None:
        days = [utc_day(r.received_at) for r in records]
    out: dict[DayKey, InstallDay] = {}
    for record, day in zip(records, days, strict=True):
        at = record.received_at
        key = (day, record.product, record.install_id)
        current = out.get(key)
        if current is None:
            out[key] = InstallDay(
                record.version,
                record.platform,
                record.os,
                record.arch,
                record.attrs,
                record.counts,
                1,
                at,
                at,
            )
            continue
        current.pings += 1
        if at < current.first_ping:
            current.first_ping = at
        if at > current.last_ping:
            current.last_ping = at
        if record.version != UNKNOWN:
            current.version = record.version
        if record.platform != UNKNOWN:
            current.platform = record.platform
        if record.os != UNKNOWN:
            current.os = record.os
        if record.arch != UNKNOWN:
            current.arch = record.arch
        # union() inlined: this runs for every ping after an install-day's first.
        attrs = record.attrs
        if attrs:
            mine = current.attrs
            if len(attrs) >= len(mine) and attrs.keys() >= mine.keys():
                current.attrs = attrs
            else:
                current.attrs = {**mine, **attrs}
        counts = record.counts
        if counts:
            held = current.counts
            if len(counts) >= len(held) and counts.keys() >= held.keys():
                current.counts = counts
            else:
                current.counts = {**held, **counts}
    return out


def count_events(
    records: Sequence[PingRecord], catalogs: Catalogs, days: Sequence[dt.date] | None = None
) -> Counter[EventKey]:
    """Pings per (day, product, event, values of the product's declared dimension attrs)."""
    if days is None:
        days = [utc_day(r.received_at) for r in records]
    dimensions: dict[str, tuple[str, ...]] = {}
    # Counted under the dimension values first, written as JSON once per distinct key after.
    counted: dict[tuple[dt.date, str, str, tuple[str | bool | None, ...]], int] = {}
    for record, day in zip(records, days, strict=True):
        product = record.product
        dims = dimensions.get(product)
        if dims is None:
            catalog = catalogs.get(product)
            dims = dimensions[product] = catalog.dimensions if catalog else ()
        key = (day, product, record.event, tuple(map(record.attrs.get, dims)))
        counted[key] = counted.get(key, 0) + 1
    events: Counter[EventKey] = Counter()
    for (day, product, event, values), n in counted.items():
        present = {d: v for d, v in zip(dimensions[product], values, strict=True) if v is not None}
        events[(day, product, event, _JSON.encode(present).decode())] += n
    return events


@dataclass(slots=True)
class CountDelta:
    """A change to one rollup_counts row.

    min and max are kept exact with the number of installs holding them: the store recomputes
    them from install_days only when the last install at an extreme leaves it. `added_min_n` is
    how many added values equal `added_min`, and so on.
    """

    installs: int = 0
    sum: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    added_min: int | None = None
    added_min_n: int = 0
    added_max: int | None = None
    added_max_n: int = 0
    removed_min: int | None = None
    removed_min_n: int = 0
    removed_max: int | None = None
    removed_max_n: int = 0

    def add(self, value: int) -> None:
        self.installs += 1
        self.sum += value
        self.histogram[value.bit_length()] += 1
        low = self.added_min
        if low is None or value < low:
            self.added_min, self.added_min_n = value, 1
        elif value == low:
            self.added_min_n += 1
        high = self.added_max
        if high is None or value > high:
            self.added_max, self.added_max_n = value, 1
        elif value == high:
            self.added_max_n += 1

    def add_all(self, values: list[int]) -> None:
        """`add` for each of `values`, with the sums and extremes taken by builtins."""
        self.installs += len(values)
        self.sum += sum(values)
        histogram = self.histogram
        for value in values:
            histogram[value.bit_length()] += 1
        low, high = min(values), max(values)
        if self.added_min is None or low < self.added_min:
            self.added_min, self.added_min_n = low, values.count(low)
        elif low == self.added_min:
            self.added_min_n += values.count(low)
        if self.added_max is None or high > self.added_max:
            self.added_max, self.added_max_n = high, values.count(high)
        elif high == self.added_max:
            self.added_max_n += values.count(high)

    def remove(self, value: int) -> None:
        self.installs -= 1
        self.sum -= value
        self.histogram[value.bit_length()] -= 1
        low = self.removed_min
        if low is None or value < low:
            self.removed_min, self.removed_min_n = value, 1
        elif value == low:
            self.removed_min_n += 1
        high = self.removed_max
        if high is None or value > high:
            self.removed_max, self.removed_max_n = value, 1
        elif value == high:
            self.removed_max_n += 1


@dataclass(slots=True)
class RollupDelta:
    """What one flush adds to (or takes from) each rollup table."""

    active: dict[ActiveKey, list[int]] = field(default_factory=dict)  # [installs, pings]
    attrs: Counter[AttrKey] = field(default_factory=Counter)
    counts: dict[CountKey, CountDelta] = field(default_factory=dict)
    events: Counter[EventKey] = field(default_factory=Counter)
    _added: dict[CountKey, list[int]] = field(default_factory=dict)
    """Values joining rollup_counts rows, folded into `counts` by `fold` (a list append per value
    instead of a CountDelta.add call: counts are most of the work on a new install day)."""
    _new_attrs: dict[tuple[dt.date, str, tuple[tuple[str, str | bool], ...]], int] = field(
        default_factory=dict
    )
    """New install days per (day, product, attrs as items), folded into `attrs` by `fold`: a
    fleet's installs share a few attr combinations, so one count per new day replaces one per
    attr."""

    def _active(self, day: dt.date, product: str, s: InstallDay, installs: int, pings: int) -> None:
        key = (day, product, s.version, s.platform, s.os, s.arch)
        slot = self.active.get(key)
        if slot is None:
            self.active[key] = [installs, pings]
        else:
            slot[0] += installs
            slot[1] += pings

    def _count(self, key: CountKey) -> CountDelta:
        delta = self.counts.get(key)
        if delta is None:
            delta = self.counts[key] = CountDelta()
        return delta

    def move(
        self, day: dt.date, product: str, old: InstallDay | None, new: InstallDay, pings: int
    ) -> None:
        """The install leaves `old`'s keys (with its previous pings) and joins `new`'s with `pings`."""
        if old is not None:
            self._active(day, product, old, -1, -old.pings)
        self._active(day, product, new, 1, pings)
        if old is None:
            if new.attrs:
                new_attrs = self._new_attrs
                combination = (day, product, tuple(new.attrs.items()))
                new_attrs[combination] = new_attrs.get(combination, 0) + 1
            added = self._added
            for name, count in new.counts.items():
                values = added.get((day, product, name))
                if values is None:
                    added[(day, product, name)] = [count]
                else:
                    values.append(count)
            return
        if old.attrs is not new.attrs and old.attrs != new.attrs:
            for name, value in old.attrs.items():
                if attr_text(value) != _text_or_none(new.attrs.get(name)):
                    self.attrs[(day, product, name, attr_text(value))] -= 1
            for name, value in new.attrs.items():
                if attr_text(value) != _text_or_none(old.attrs.get(name)):
                    self.attrs[(day, product, name, attr_text(value))] += 1
        if old.counts is not new.counts and old.counts != new.counts:
            for name, count in old.counts.items():
                if new.counts.get(name) != count:
                    self._count((day, product, name)).remove(count)
            for name, count in new.counts.items():
                if old.counts.get(name) != count:
                    self._count((day, product, name)).add(count)

    def fold(self) -> None:
        """Move what `move` collected into `attrs` and `counts`."""
        attrs = self.attrs
        for (day, product, items), installs in self._new_attrs.items():
            for name, value in items:
                attrs[(day, product, name, attr_text(value))] += installs
        self._new_attrs.clear()
        for key, values in self._added.items():
            self._count(key).add_all(values)
        self._added.clear()


@dataclass(slots=True)
class Merged:
    rows: dict[DayKey, InstallDay]
    delta: RollupDelta
    first_seen: list[DayKey]
    """Install days that did not exist before this flush (they change DAU/WAU/MAU)."""


def _known(new: str, old: str) -> str:
    return old if new == UNKNOWN else new


def merge_days(old: Mapping[DayKey, InstallDay], new: Mapping[DayKey, InstallDay]) -> Merged:
    """Combine stored install days with a batch's (the batch's values over the stored ones, field
    by field), and the rollup deltas that keep the rollups exact. The rows keep the stored ids."""
    delta = RollupDelta()
    rows: dict[DayKey, InstallDay] = {}
    first_seen: list[DayKey] = []
    for key, incoming in new.items():
        day, product, _ = key
        stored = old.get(key)
        if stored is None:
            rows[key] = incoming
            first_seen.append(key)
            delta.move(day, product, None, incoming, incoming.pings)
            continue
        row = InstallDay(
            _known(incoming.version, stored.version),
            _known(incoming.platform, stored.platform),
            _known(incoming.os, stored.os),
            _known(incoming.arch, stored.arch),
            union(stored.attrs, incoming.attrs),
            union(stored.counts, incoming.counts),
            stored.pings + incoming.pings,
            min(stored.first_ping, incoming.first_ping),
            max(stored.last_ping, incoming.last_ping),
            stored.ping_ids,
            stored.retry_ids,
        )
        delta.move(day, product, stored, row, row.pings)
        rows[key] = row
    delta.fold()
    return Merged(rows, delta, first_seen)
