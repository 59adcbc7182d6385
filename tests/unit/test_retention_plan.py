"""The choice of partitions to create and drop: property-based over dates, horizons and the
month/year boundaries, plus the horizon rule pinned on examples."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.retention.bounds import upper_bound
from services.retention.plan import (
    DayPartition,
    Horizons,
    TableState,
    first_kept_day,
    plan_pass,
    plan_table,
    utc_today,
)

DAY = dt.timedelta(days=1)

# Today, biased towards the ends of months and years (and leap days).
boundary_days = st.builds(
    lambda year, month, offset: dt.date(year, month, 1) + dt.timedelta(days=offset),
    st.integers(2000, 2100),
    st.integers(1, 12),
    st.integers(-3, 3),
)
todays = st.one_of(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), boundary_days)
horizons = st.integers(1, 800)


def partition(day: dt.date, rows: int = 0) -> DayPartition:
    return DayPartition(f"t_p{day:%Y%m%d}", day, day + DAY, rows)


@st.composite
def tables(draw: st.DrawFn) -> tuple[dt.date, int, int, TableState]:
    today = draw(todays)
    horizon = draw(horizons)
    ahead = draw(st.integers(0, 40))
    span = horizon + ahead + 40
    offsets = draw(st.sets(st.integers(-span, ahead + 10), max_size=120))
    parts = tuple(partition(today + dt.timedelta(days=o)) for o in sorted(offsets))
    return today, horizon, ahead, TableState("t", "install", parts)


@settings(max_examples=400)
@given(tables())
def test_never_drops_inside_the_horizon_and_always_drops_past_it(
    case: tuple[dt.date, int, int, TableState],
) -> None:
    today, horizon, ahead, state = case
    plan = plan_table(state, Horizons(install=horizon), today, ahead)
    dropped = {p.day for p in plan.drop}
    for p in state.partitions:
        age = (today - p.day).days
        if age < horizon:
            assert p.day not in dropped, f"{p.day} is {age} days old, inside {horizon}"
        else:
            assert p.day in dropped, f"{p.day} is {age} days old, past {horizon}"
    assert plan.keep_from == today - dt.timedelta(days=horizon - 1)
    assert all(p.upper is not None and p.upper <= plan.keep_from for p in plan.drop)


@settings(max_examples=300)
@given(tables())
def test_creates_exactly_the_missing_days_from_today_ahead(
    case: tuple[dt.date, int, int, TableState],
) -> None:
    today, horizon, ahead, state = case
    plan = plan_table(state, Horizons(install=horizon), today, ahead)
    present = {p.day for p in state.partitions}
    wanted = {today + dt.timedelta(days=i) for i in range(ahead + 1)}
    assert set(plan.create) == wanted - present
    assert list(plan.create) == sorted(plan.create)
    assert not set(plan.create) & {p.day for p in plan.drop}


@given(todays, horizons, horizons)
def test_each_table_gets_its_own_horizon(today: dt.date, install: int, rollup: int) -> None:
    days = [today - dt.timedelta(days=o) for o in (0, install - 1, install, rollup - 1, rollup)]
    parts = tuple(partition(d) for d in sorted(set(days)))
    states = [
        TableState("install_days", "install", parts),
        TableState("rollup_activity", "rollup", parts),
        TableState("rollup_events", "rollup", parts),
    ]
    plan = plan_pass(states, Horizons(install, rollup), today, 0)
    by_table = {t.table: t for t in plan.tables}
    assert sorted(by_table) == ["install_days", "rollup_activity", "rollup_events"]
    for name, horizon in (
        ("install_days", install),
        ("rollup_activity", rollup),
        ("rollup_events", rollup),
    ):
        kept = {p.day for p in parts} - {p.day for p in by_table[name].drop}
        assert kept == {d for d in days if (today - d).days < horizon}
    assert [r.table for r in plan.row_purges] == ["install_activity"]
    assert plan.row_purges[0].keep_from == first_kept_day(today, install)


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), st.integers(-14, 14))
def test_day_boundaries_are_utc(day: dt.date, offset_hours: int) -> None:
    zone = dt.timezone(dt.timedelta(hours=offset_hours))
    start = dt.datetime.combine(day, dt.time(0, 0), dt.UTC)
    end = dt.datetime.combine(day, dt.time(23, 59, 59, 999999), dt.UTC)
    assert utc_today(lambda: start.astimezone(zone)) == day
    assert utc_today(lambda: end.astimezone(zone)) == day


def test_horizon_rule_on_a_year_boundary() -> None:
    today = dt.date(2025, 1, 3)
    assert first_kept_day(today, 90) == dt.date(2024, 10, 6)
    parts = tuple(partition(dt.date(2024, 10, 4) + dt.timedelta(days=i)) for i in range(4))
    plan = plan_table(TableState("t", "install", parts), Horizons(), today, 0)
    assert [p.day for p in plan.drop] == [dt.date(2024, 10, 4), dt.date(2024, 10, 5)]


def test_a_partition_whose_range_is_not_known_is_never_dropped() -> None:
    today = dt.date(2025, 6, 30)
    old = dt.date(2020, 1, 1)
    odd = DayPartition("t_p20200101", old, None)
    wide = DayPartition("t_p20200102", old + DAY, today)  # reaches into the horizon
    plan = plan_table(TableState("t", "install", (odd, wide)), Horizons(), today, 0)
    assert plan.drop == ()


def test_naive_clock_and_zero_horizon_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_today(lambda: dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="at least today"):
        first_kept_day(dt.date(2025, 1, 1), 0)


def test_upper_bound_reads_day_ranges_only() -> None:
    assert upper_bound("FOR VALUES FROM ('2025-01-01') TO ('2025-01-02')") == dt.date(2025, 1, 2)
    assert upper_bound("DEFAULT") is None
    assert upper_bound("FOR VALUES FROM (MINVALUE) TO ('2025-01-02')") is None
    assert upper_bound("FOR VALUES FROM ('2025-01-02') TO ('2025-01-01')") is None
    assert upper_bound(None) is None
