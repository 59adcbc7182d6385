"""Exact DAU / WAU / MAU from per-install days-seen masks (Mozilla's clients_last_seen), pure.

Each install keeps `days_seen`: bit i set = seen on `last_day - i`. When an install is seen on a
day d for the first time, it becomes active in the window of every day e in [d, d + W - 1] that
did not already contain one of its days: with p its latest seen day before d and n its earliest
after d, that is e in [max(d, p + W), min(d + W - 1, n - 1)]. A flush adds those ranges up per
product as difference arrays, so the cost per install day is constant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final

import msgspec

WINDOWS: Final = {"dau": 1, "wau": 7, "mau": 28}
MASK_BITS: Final = 60  # fits a signed bigint; needs >= 2 * 28 + late days
MASK: Final = (1 << MASK_BITS) - 1
LATE_LIMIT_DAYS: Final = MASK_BITS - 28
"""A first sighting this many days before the install's last day still updates WAU/MAU exactly;
older ones count in DAU only (their window neighbours have left the mask)."""

ActivityKey = tuple[str, uuid.UUID]
"""(product, install_id)."""


class Activity(msgspec.Struct, array_like=True, gc=False):
    """An install's first and last day seen and its days-seen mask (a row of install_activity);
    a Struct for the reason rollup.InstallDay is one."""

    first_day: dt.date
    last_day: dt.date
    days_seen: int


@dataclass(slots=True)
class ActivityDelta:
    """Per (day, product): [dau, wau, mau, new_installs] to add, kept as counted day ranges."""

    _ranges: Counter[tuple[str, int, int, int]] = field(default_factory=Counter)

    def add_range(self, product: str, metric: int, start: int, end: int, sign: int = 1) -> None:
        """Add `sign` to `metric` (0 dau, 1 wau, 2 mau, 3 new) on day ordinals [start, end]."""
        if end >= start:
            self._ranges[(product, metric, start, end)] += sign

    def rows(self) -> dict[tuple[dt.date, str], tuple[int, int, int, int]]:
        """The non-zero per-day deltas, from prefix sums of difference arrays."""
        diff: dict[str, dict[int, list[int]]] = {}
        for (product, metric, start, end), n in self._ranges.items():
            if n:
                by_day = diff.setdefault(product, {})
                by_day.setdefault(start, [0, 0, 0, 0])[metric] += n
                by_day.setdefault(end + 1, [0, 0, 0, 0])[metric] -= n
        out: dict[tuple[dt.date, str], tuple[int, int, int, int]] = {}
        for product, by_day in diff.items():
            ordinals = sorted(by_day)
            running = [0, 0, 0, 0]
            for i, ordinal in enumerate(ordinals[:-1]):
                running = [a + b for a, b in zip(running, by_day[ordinal], strict=True)]
                if any(running):
                    for day_ordinal in range(ordinal, ordinals[i + 1]):
                        out[(dt.date.fromordinal(day_ordinal), product)] = (
                            running[0],
                            running[1],
                            running[2],
                            running[3],
                        )
        return out


def _prev_next(a: Activity, day: dt.date) -> tuple[int | None, int | None]:
    """Ordinals of the latest seen day before `day` and the earliest after it, within the mask."""
    last = a.last_day.toordinal()
    d = day.toordinal()
    if d > last:
        return last, None  # bit 0 (last_day) is always set
    offset = last - d  # bit of `day`
    older = a.days_seen >> (offset + 1)
    prev = None if older == 0 else d - 1 - ((older & -older).bit_length() - 1)
    newer = a.days_seen & ((1 << offset) - 1)
    nxt = None if newer == 0 else last - (newer.bit_length() - 1)
    return prev, nxt


def mark_seen(old: Activity | None, product: str, day: dt.date, delta: ActivityDelta) -> Activity:
    """The install's activity after a first sighting on `day`; adds its effect to `delta`."""
    d = day.toordinal()
    if old is None:
        for metric, width in enumerate(WINDOWS.values()):
            delta.add_range(product, metric, d, d + width - 1)
        delta.add_range(product, 3, d, d)
        return Activity(day, day, 1)
    last = old.last_day.toordinal()
    if d <= last and (last - d) < MASK_BITS and old.days_seen >> (last - d) & 1:
        return old  # already counted
    if d < last - LATE_LIMIT_DAYS:
        delta.add_range(product, 0, d, d)  # too late to place in the windows exactly: DAU only
        return old
    prev, nxt = _prev_next(old, day)
    for metric, width in enumerate(WINDOWS.values()):
        start = d if prev is None else max(d, prev + width)
        end = d + width - 1 if nxt is None else min(d + width - 1, nxt - 1)
        delta.add_range(product, metric, start, end)
    first_day = old.first_day
    if day < old.first_day:
        previous_first = old.first_day.toordinal()
        delta.add_range(product, 3, previous_first, previous_first, -1)
        delta.add_range(product, 3, d, d)
        first_day = day
    if d > last:
        return Activity(first_day, day, ((old.days_seen << (d - last)) | 1) & MASK)
    return Activity(first_day, old.last_day, old.days_seen | (1 << (last - d)))


def advance(
    old: Mapping[ActivityKey, Activity], sightings: Iterable[tuple[str, uuid.UUID, dt.date]]
) -> tuple[dict[ActivityKey, Activity], ActivityDelta]:
    """Apply first sightings (product, install, day) to stored activity; new rows and deltas."""
    rows: dict[ActivityKey, Activity] = {}
    delta = ActivityDelta()
    ranges = delta._ranges
    for product, install_id, day in sorted(sightings, key=itemgetter(2)):
        key = (product, install_id)
        current = rows.get(key)
        if current is None:
            current = old.get(key)
        if current is None:  # mark_seen(None, ...) inlined: most sightings are of new installs
            d = day.toordinal()
            for metric, span in _NEW_INSTALL_SPANS:
                ranges[(product, metric, d, d + span)] += 1
            rows[key] = Activity(day, day, 1)
            continue
        d = day.toordinal()
        last = current.last_day.toordinal()
        if d <= last:
            rows[key] = mark_seen(current, product, day, delta)
            continue
        # mark_seen's case of a day after the last one inlined (the rest of the sightings):
        # active from the day after the last day's window ends, until this day's window ends.
        for metric, span in _WINDOW_SPANS:
            start = last + span + 1
            if start < d:
                start = d
            end = d + span
            if end >= start:
                ranges[(product, metric, start, end)] += 1
        rows[key] = Activity(current.first_day, day, ((current.days_seen << (d - last)) | 1) & MASK)
    return rows, delta


_WINDOW_SPANS: Final = tuple((metric, width - 1) for metric, width in enumerate(WINDOWS.values()))
"""(metric, days after a sighting its window lasts) of dau, wau and mau."""
_NEW_INSTALL_SPANS: Final = (
    *_WINDOW_SPANS,
    (3, 0),  # new_installs on its first day
)
"""(metric, days after the first) a new install adds 1 to, as mark_seen(None, ...) does."""
