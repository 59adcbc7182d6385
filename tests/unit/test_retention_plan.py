"""The choice of partitions to create, drop and purge row by row: property-based over dates,
horizons, partition widths and the month/year boundaries, plus the horizon rule on examples.
Partitions are known by their bounds only; their names never matter."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.retention.plan import (
    DayPartition,
    Horizons,
    TableState,
    days_wanted,
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
    dropped = {p.lower for p in plan.drop}
    for p in state.partitions:
        assert p.lower is not None
        age = (today - p.lower).days
        if age < horizon:
            assert p.lower not in dropped, f"{p.lower} is {age} days old, inside {horizon}"
        else:
            assert p.lower in dropped, f"{p.lower} is {age} days old, past {horizon}"
    assert plan.keep_from == today - dt.timedelta(days=horizon - 1)
    assert all(p.upper is not None and p.upper <= plan.keep_from for p in plan.drop)


@settings(max_examples=300)
@given(tables())
def test_creates_exactly_the_missing_days_from_today_ahead(
    case: tuple[dt.date, int, int, TableState],
) -> None:
    today, horizon, ahead, state = case
    plan = plan_table(state, Horizons(install=horizon), today, ahead)
    present = {p.lower for p in state.partitions}
    wanted = {today + dt.timedelta(days=i) for i in range(ahead + 1)}
    assert set(plan.create) == wanted - present
    assert list(plan.create) == sorted(plan.create)
    assert not set(plan.create) & {p.lower for p in plan.drop}


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
        kept = {p.lower for p in parts} - {p.lower for p in by_table[name].drop}
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
    assert [p.lower for p in plan.drop] == [dt.date(2024, 10, 4), dt.date(2024, 10, 5)]


def test_a_partition_whose_range_is_not_known_is_never_dropped_but_purged_by_rows() -> None:
    today = dt.date(2025, 6, 30)
    old = dt.date(2020, 1, 1)
    odd = DayPartition("t_p20200101", old, None)
    wide = DayPartition("t_p20200102", old + DAY, today)  # reaches into the horizon
    plan = plan_table(TableState("t", "install", (odd, wide)), Horizons(), today, 0)
    assert plan.drop == ()
    assert plan.trim == (odd, wide)


# Partitions of any width and name: several days, MINVALUE/MAXVALUE, unreadable bounds.
@st.composite
def wide_tables(draw: st.DrawFn) -> tuple[dt.date, int, int, TableState]:
    today = draw(todays)
    horizon = draw(horizons)
    ahead = draw(st.integers(0, 40))
    cuts = sorted(draw(st.sets(st.integers(-horizon - 60, ahead + 40), min_size=2, max_size=30)))
    parts: list[DayPartition] = []
    for i, (low, high) in enumerate(itertools.pairwise(cuts)):
        if draw(st.booleans()):  # gaps between partitions are allowed
            continue
        lower: dt.date | None = today + dt.timedelta(days=low)
        upper: dt.date | None = today + dt.timedelta(days=high)
        if i == 0 and draw(st.booleans()):
            lower = dt.date.min  # FROM (MINVALUE)
        if draw(st.integers(0, 9)) == 0:
            lower, upper = None, None  # a bound the catalog query could not read
        parts.append(
            DayPartition(
                draw(st.sampled_from(["a", "restored", "ops_2019"])) + str(i),
                lower,
                upper,
                draw(st.integers(0, 10)),
            )
        )
    return today, horizon, ahead, TableState("t", "install", tuple(parts), written_ahead_days=3)


@settings(max_examples=400)
@given(wide_tables())
def test_by_bounds_drops_whole_ranges_past_the_horizon_and_purges_straddlers_by_rows(
    case: tuple[dt.date, int, int, TableState],
) -> None:
    today, horizon, ahead, state = case
    plan = plan_table(state, Horizons(install=horizon), today, ahead)
    keep_from = plan.keep_from
    dropped, trimmed = set(plan.drop), set(plan.trim)
    assert not dropped & trimmed
    for p in state.partitions:
        if p.upper is not None and p.upper <= keep_from:
            assert p in dropped  # its every day is past the horizon, whatever its name
        elif p.lower is None or p.upper is None or p.lower < keep_from:
            assert p in trimmed  # it may hold rows past the horizon: deleted row by row
        else:
            assert p not in dropped | trimmed  # wholly inside the horizon: untouched
    # Every day from today to the furthest written day and the margin has a partition after
    # the pass: one that covers it, or the one-day partition created for it.
    for day in days_wanted(today, 3, ahead):
        covered = any(
            p.lower is not None and p.upper is not None and p.lower <= day < p.upper
            for p in state.partitions
        )
        assert covered != (day in plan.create)


def test_partitions_are_created_as_far_ahead_as_the_table_is_written_plus_the_margin() -> None:
    today = dt.date(2025, 12, 31)
    activity = TableState("rollup_activity", "rollup", (), written_ahead_days=27)
    daily = TableState("rollup_events", "rollup", ())
    plan = {t.table: t for t in plan_pass([activity, daily], Horizons(), today, 7).tables}
    assert plan["rollup_activity"].create[0] == today
    assert plan["rollup_activity"].create[-1] == today + 34 * DAY
    assert len(plan["rollup_activity"].create) == 35
    assert plan["rollup_events"].create[-1] == today + 7 * DAY
    # A partition spanning several days, named any way, covers each of its days.
    wide = DayPartition("restored_2026q1", today, today + 40 * DAY)
    plan_wide = plan_table(
        TableState("rollup_activity", "rollup", (wide,), written_ahead_days=27),
        Horizons(),
        today,
        7,
    )
    assert plan_wide.create == ()


def test_naive_clock_and_zero_horizon_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_today(lambda: dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="at least today"):
        first_kept_day(dt.date(2025, 1, 1), 0)
