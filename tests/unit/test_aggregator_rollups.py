"""Accumulation rules against the fake store: exact rollups whatever the batching."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
from collections import Counter
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.record import PingRecord
from services.aggregator.activity import Activity, ActivityDelta, advance, mark_seen
from services.aggregator.batch import Batch
from services.aggregator.flush import write_flush
from services.aggregator.histogram import BUCKETS, bucket, quantile
from services.aggregator.rollup import CountDelta, InstallDay, attr_text, merge_days
from services.aggregator.store import FencedError, OffsetClaim
from services.common.settings import HorizonSettings
from tests.support.aggregator import BASE, FakeRollupStore, FakeTables, Truth, fleet, ping, truth

CATALOGS = load_catalogs()
TODAY = BASE.date()
HORIZONS = HorizonSettings()


async def feed(store: FakeRollupStore, records: list[PingRecord], cuts: list[int]) -> None:
    """Flush `records` (one partition) in batches split at `cuts`."""
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(records))), len(records)]
    stored: int | None = None
    for lo, hi in itertools.pairwise(bounds):
        claim = OffsetClaim(0, stored, hi)
        await write_flush(
            store,
            CATALOGS,
            group="g",
            topic="t",
            claims=[claim],
            records=records[lo:hi],
            horizons=HORIZONS,
        )
        stored = hi


def rollups(t: FakeTables) -> dict[str, Any]:
    return {
        "active": {k: tuple(v) for k, v in t.active.items() if v[0]},
        "activity": {
            k: tuple(v[:3]) for k, v in t.rollup_activity.items() if k[0] <= TODAY and any(v[:3])
        },
        "new": {k: v[3] for k, v in t.rollup_activity.items() if v[3]},
        "attrs": {k: v for k, v in t.attrs.items() if v},
        "counts": {
            k: (r["installs"], r["sum"], r["min"], r["max"])
            for k, r in t.counts.items()
            if r["installs"]
        },
        "events": {k: v for k, v in t.events.items() if v},
    }


def expected(t: Truth) -> dict[str, Any]:
    return {
        "active": t.active,
        "activity": {k: v for k, v in t.activity.items() if any(v)},
        "new": t.new_installs,
        "attrs": t.attrs,
        "counts": t.counts,
        "events": t.events,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    days=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
async def test_rollups_equal_ground_truth_whatever_the_batching(
    seed: int, days: int, cuts: list[int]
) -> None:
    records = fleet(seed, installs=25, days=days, pings=300, derived=True)
    store = FakeRollupStore()
    await feed(store, records, cuts)
    assert rollups(store.tables) == expected(truth(records, CATALOGS))


async def test_an_install_counts_once_per_day_under_its_last_known_values() -> None:
    install = uuid.uuid4()
    records = [
        ping(install, BASE + dt.timedelta(hours=1), version="1.0", counts={"vms": 10}),
        ping(install, BASE + dt.timedelta(hours=3), version="2.0", counts={"vms": 3}),
        ping(install, BASE + dt.timedelta(hours=4), version="unknown", counts={}),
    ]
    store = FakeRollupStore()
    await feed(store, records, [1, 2])
    active = {k[2]: tuple(v) for k, v in store.tables.active.items() if v[0] or v[1]}
    assert active == {"2.0": (1, 3)}
    row = store.tables.counts[(TODAY, "pulse", "vms")]
    assert (row["installs"], row["sum"], row["min"], row["max"]) == (1, 3, 3, 3)
    assert row["histogram"][bucket(3)] == 1
    assert sum(row["histogram"]) == 1


NOVU_USAGE = {"event_count": 1200, "subscriber_count": 40, "workflow_count": 6}
NOVU_BEACON = {"free_memory_mb": 900, "total_memory_mb": 8192}


@pytest.mark.parametrize("cuts", [[], [1], [1, 2]])
async def test_a_beacon_after_a_usage_report_of_the_same_day_keeps_the_usage_counts(
    cuts: list[int],
) -> None:
    install = uuid.uuid4()
    usage = ping(install, BASE + dt.timedelta(hours=1), product="novu", event="usage")
    beacon = ping(install, BASE + dt.timedelta(hours=2), product="novu", event="beacon")
    records = [
        msgspec.structs.replace(usage, counts=NOVU_USAGE),
        msgspec.structs.replace(beacon, counts=NOVU_BEACON, attrs={"os_release": "23.6.0"}),
        msgspec.structs.replace(
            beacon,
            received_at=BASE + dt.timedelta(hours=3),
            counts={"free_memory_mb": 700, "total_memory_mb": 8192},
        ),
    ]
    store = FakeRollupStore()
    await feed(store, records, cuts)
    (day_row,) = store.tables.days.values()
    assert day_row.counts == {**NOVU_USAGE, "free_memory_mb": 700, "total_memory_mb": 8192}
    assert day_row.attrs == {"os_release": "23.6.0"}
    counts = {
        k[2]: (r["installs"], r["sum"]) for k, r in store.tables.counts.items() if r["installs"]
    }
    assert counts == {
        "event_count": (1, 1200),
        "subscriber_count": (1, 40),
        "workflow_count": (1, 6),
        "free_memory_mb": (1, 700),
        "total_memory_mb": (1, 8192),
    }
    assert store.tables.attrs[(TODAY, "novu", "os_release", "23.6.0")] == 1


@pytest.mark.parametrize("cuts", [[], [1]])
async def test_an_event_without_os_keeps_the_days_os(cuts: list[int]) -> None:
    install = uuid.uuid4()
    records = [
        ping(install, BASE + dt.timedelta(hours=1), os="darwin", arch="arm64"),
        ping(install, BASE + dt.timedelta(hours=2), os="unknown", arch="unknown", version="5.1.0"),
    ]
    store = FakeRollupStore()
    await feed(store, records, cuts)
    active = {k[2:]: tuple(v) for k, v in store.tables.active.items() if v[0] or v[1]}
    assert active == {("5.1.0", "docker", "darwin", "arm64"): (1, 2)}


async def test_unknown_stays_until_a_known_value_comes() -> None:
    install = uuid.uuid4()
    records = [
        ping(install, BASE + dt.timedelta(hours=1), os="unknown"),
        ping(install, BASE + dt.timedelta(hours=2), os="unknown"),
        ping(install, BASE + dt.timedelta(hours=3), os="windows"),
    ]
    store = FakeRollupStore()
    await feed(store, records[:2], [1])
    assert {k[4] for k, v in store.tables.active.items() if v[0]} == {"unknown"}
    await feed_more(store, records[2:], 2)
    assert {k[4]: tuple(v) for k, v in store.tables.active.items() if v[0] or v[1]} == {
        "windows": (1, 3)
    }


async def feed_more(store: FakeRollupStore, records: list[PingRecord], stored: int) -> None:
    """One more flush after `stored` records were flushed by `feed`."""
    await write_flush(
        store,
        CATALOGS,
        group="g",
        topic="t",
        claims=[OffsetClaim(0, stored, stored + len(records))],
        records=records,
        horizons=HORIZONS,
    )


async def test_retried_ping_id_is_counted_once_across_flushes_and_midnight() -> None:
    install, ping_id = uuid.uuid4(), uuid.uuid4()
    before = BASE - dt.timedelta(seconds=1)
    records = [
        ping(install, before, ping_id=ping_id),
        ping(install, BASE, ping_id=ping_id),  # the retry lands after midnight
        ping(install, BASE + dt.timedelta(seconds=5), ping_id=ping_id),
    ]
    store = FakeRollupStore()
    await feed(store, records, [1, 2])
    assert sum(v for v in store.tables.events.values()) == 1
    assert {k[0] for k in store.tables.days} == {before.date()}


async def test_dau_wau_mau_across_utc_day_boundaries() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    d0 = BASE - dt.timedelta(days=30)
    records = [
        ping(a, d0 + dt.timedelta(hours=23, minutes=59, seconds=59)),  # day 0
        ping(a, d0 + dt.timedelta(days=1)),  # day 1, one second later
        ping(b, d0 + dt.timedelta(days=8, hours=12)),  # day 8
        ping(a, d0 + dt.timedelta(days=29)),  # day 29: a's MAU window restarts
    ]
    store = FakeRollupStore()
    await feed(store, records, [1, 3])
    act = {(k[0] - d0.date()).days: tuple(v) for k, v in store.tables.rollup_activity.items()}
    assert act[0] == (1, 1, 1, 1)
    assert act[1] == (1, 1, 1, 0)
    assert act[7] == (0, 1, 1, 0)  # a last seen on day 1: inside [1, 7]
    assert act[8] == (1, 1, 2, 1)  # a fell out of the week, b came in
    assert act[28] == (0, 0, 2, 0)  # the month [1, 28] holds a (day 1) and b (day 8)
    assert act[29] == (1, 1, 2, 0)  # [2, 29]: a again (day 29) and b


def test_late_first_day_moves_the_new_install() -> None:
    rows, delta = advance(
        {("pulse", uuid.UUID(int=1)): Activity(TODAY, TODAY, 1)},
        [("pulse", uuid.UUID(int=1), TODAY - dt.timedelta(days=3))],
    )
    out = delta.rows()
    assert out[(TODAY, "pulse")][3] == -1
    assert out[(TODAY - dt.timedelta(days=3), "pulse")][3] == 1
    assert rows[("pulse", uuid.UUID(int=1))].days_seen == 0b1001


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=200), st.floats(0.01, 1.0))
def test_histogram_quantile_is_within_a_factor_of_two(values: list[int], q: float) -> None:
    histogram = [0] * BUCKETS
    for v in values:
        histogram[bucket(v)] += 1
    estimate = quantile(histogram, q, min(values), max(values))
    assert estimate is not None
    ordered = sorted(values)
    true = ordered[max(0, math.ceil(q * len(values)) - 1)]
    assert min(values) <= estimate <= max(values)
    assert true / 2 <= estimate <= max(2 * true, 1)


async def test_a_moved_offset_fences_the_flush_and_writes_nothing() -> None:
    store = FakeRollupStore()
    records = [ping(uuid.uuid4(), BASE)]
    await write_flush(
        store,
        CATALOGS,
        group="g",
        topic="t",
        claims=[OffsetClaim(0, None, 1)],
        records=records,
        horizons=HORIZONS,
    )
    with pytest.raises(FencedError):
        await write_flush(
            store,
            CATALOGS,
            group="g",
            topic="t",
            claims=[OffsetClaim(0, None, 2)],
            records=records,
            horizons=HORIZONS,
        )
    assert store.tables.offsets == {("g", "t", 0): 1}
    assert sum(v for v in store.tables.events.values()) == 1


def test_batch_is_due_by_size_or_age_and_drops_revoked_partitions() -> None:
    batch = Batch()
    assert not batch.due(0.0, max_records=2, max_age_s=1.0)
    batch.add(0, 5, ping(uuid.uuid4(), BASE), now=10.0)
    assert not batch.due(10.5, max_records=2, max_age_s=1.0)
    assert batch.due(11.0, max_records=2, max_age_s=1.0)
    batch.add(1, 7, ping(uuid.uuid4(), BASE), now=10.6)
    assert batch.due(10.6, max_records=2, max_age_s=1.0)
    kept = batch.without({1})
    assert kept.next_offsets == {0: 6}
    assert kept.size == 1


@given(st.lists(st.lists(st.integers(0, 10**12), min_size=1, max_size=30), max_size=5))
def test_adding_count_values_in_bulk_equals_adding_them_one_by_one(
    groups: list[list[int]],
) -> None:
    bulk, single = CountDelta(), CountDelta()
    for values in groups:
        bulk.add_all(list(values))
        for value in values:
            single.add(value)
    assert bulk == single


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(["pulse", "novu"]), st.integers(0, 3), st.integers(0, 70)),
        max_size=30,
    ),
    st.dictionaries(st.integers(0, 3), st.integers(0, 70), max_size=3),
)
def test_advance_equals_marking_each_sighting_in_day_order(
    seen: list[tuple[str, int, int]], stored_last: dict[int, int]
) -> None:
    start = dt.date(2026, 1, 1)
    installs = [uuid.UUID(int=i) for i in range(4)]
    old = {
        ("pulse", installs[i]): Activity(
            start + dt.timedelta(days=d), start + dt.timedelta(days=d), 1
        )
        for i, d in stored_last.items()
    }
    sightings = [(p, installs[i], start + dt.timedelta(days=d)) for p, i, d in seen]
    rows, delta = advance(old, sightings)
    expected_rows: dict[tuple[str, uuid.UUID], Activity] = {}
    expected = ActivityDelta()
    for product, install, day in sorted(sightings, key=lambda s: s[2]):
        key = (product, install)
        current = expected_rows.get(key) or old.get(key)
        expected_rows[key] = mark_seen(current, product, day, expected)
    assert rows == expected_rows
    assert delta.rows() == expected.rows()


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # day
            st.sampled_from(["pulse", "novu"]),
            st.lists(
                st.tuples(
                    st.sampled_from(["a", "b", "c"]),
                    st.one_of(st.booleans(), st.sampled_from(["true", "false", "x"])),
                ),
                max_size=3,
            ),
        ),
        max_size=40,
    )
)
def test_new_install_days_count_each_attr_value_once_whatever_its_combination(
    days: list[tuple[int, str, list[tuple[str, str | bool]]]],
) -> None:
    # The merge counts new days per attr combination (key order and bool or text alike) and
    # expands them after: the same counts as one per attr of every new day.
    states = {
        (BASE.date() + dt.timedelta(days=d), product, uuid.UUID(int=i)): InstallDay(
            "5.0.0", "docker", "linux", "amd64", dict(pairs), {}, 1, BASE, BASE
        )
        for i, (d, product, pairs) in enumerate(days)
    }
    expected: Counter[tuple[dt.date, str, str, str]] = Counter()
    for (day, product, _), state in states.items():
        for name, value in state.attrs.items():
            expected[(day, product, name, attr_text(value))] += 1
    merged = merge_days({}, states)
    assert {k: v for k, v in merged.delta.attrs.items() if v} == expected
