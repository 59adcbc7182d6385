"""DayCache: what a store remembers of the install days it committed (pure, no database)."""

from __future__ import annotations

import datetime as dt
import uuid

from services.aggregator.daycache import DayCache
from services.aggregator.rollup import DayKey, InstallDay

DAY = dt.date(2026, 12, 3)
AT = dt.datetime(2026, 12, 3, 1, tzinfo=dt.UTC)


def row(pings: int) -> InstallDay:
    return InstallDay("1.0", "docker", "linux", "amd64", {}, {}, pings, AT, AT)


def keys(n: int) -> list[DayKey]:
    return [(DAY, "pulse", uuid.UUID(int=i + 1)) for i in range(n)]


def test_split_answers_remembered_keys_and_lists_the_rest_in_order() -> None:
    cache = DayCache(10)
    a, b, c = keys(3)
    cache.committed({a: row(1), c: row(3)})
    found, missing = cache.split([a, b, c])
    assert found == {a: row(1), c: row(3)} and missing == [b]


def test_past_the_limit_the_rows_written_longest_ago_go_first() -> None:
    cache = DayCache(3)
    a, b, c, d = keys(4)
    cache.committed({a: row(1), b: row(1), c: row(1)})
    cache.committed({a: row(2)})  # written again: now the newest
    cache.committed({d: row(1)})
    found, missing = cache.split([a, b, c, d])
    assert set(found) == {a, c, d} and missing == [b] and len(cache) == 3
    assert found[a].pings == 2


def test_limit_zero_remembers_nothing_and_clear_forgets_all() -> None:
    off = DayCache(0)
    (a,) = keys(1)
    off.committed({a: row(1)})
    assert off.split([a]) == ({}, [a])
    on = DayCache(5)
    on.committed({a: row(1)})
    on.clear()
    assert on.split([a]) == ({}, [a]) and len(on) == 0
