"""Choosing what a pass creates, drops and deletes. Pure: data and a date in, a plan out.

The horizon rule: with a horizon of H days and today T (UTC), the kept days are the H most recent
ones, today included: d >= T - (H - 1), the *first kept day*. A day partition is dropped only when
its whole range lies before the first kept day (its exclusive upper bound <= first kept day); rows
of non-partitioned tables, of DEFAULT partitions and of partitions that reach from before the first
kept day into the horizon are deleted when their day < first kept day. Partitions are known by
their bounds, whatever their names or widths.
So with H = 90 on 2025-06-30 the oldest kept day is 2025-04-02, and a row is gone once it is 90
days old counted in whole UTC days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Final, Literal

HorizonClass = Literal["install", "rollup"]
HORIZON_CLASSES: Final[tuple[HorizonClass, ...]] = ("install", "rollup")

Clock = Callable[[], dt.datetime]
"""Returns the current time, timezone-aware."""


def utc_today(clock: Clock) -> dt.date:
    """The UTC date of `clock()`: day boundaries are UTC whatever the host's zone."""
    now = clock()
    if now.tzinfo is None:
        raise ValueError("the retention clock must return timezone-aware datetimes")
    return now.astimezone(dt.UTC).date()


def first_kept_day(today: dt.date, horizon_days: int) -> dt.date:
    """The oldest day a horizon of `horizon_days` keeps (today counts as one)."""
    if horizon_days < 1:
        raise ValueError(f"a horizon keeps at least today, got {horizon_days} days")
    return today - dt.timedelta(days=horizon_days - 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Horizons:
    """Days kept per horizon class."""

    install: int = 90
    rollup: int = 400

    def days(self, horizon_class: HorizonClass) -> int:
        return {"install": self.install, "rollup": self.rollup}[horizon_class]


@dataclasses.dataclass(frozen=True, slots=True)
class DayPartition:
    """An existing partition, found by its bounds in the catalog (its name says nothing): `lower`
    inclusive, `upper` exclusive, date.min/date.max for MINVALUE/MAXVALUE, None when the bound
    could not be read (then it is never dropped whole, only purged row by row)."""

    name: str
    lower: dt.date | None
    upper: dt.date | None
    estimated_rows: int = 0

    def covers(self, day: dt.date) -> bool:
        return self.lower is not None and self.upper is not None and self.lower <= day < self.upper

    def describe(self) -> str:
        """Its range for people: `2025-01-01` for one day, `[a, b)` for several."""
        if self.lower is None or self.upper is None:
            return "range not readable"
        if self.upper - self.lower == dt.timedelta(days=1):
            return self.lower.isoformat()
        low = "MINVALUE" if self.lower == dt.date.min else self.lower.isoformat()
        high = "MAXVALUE" if self.upper == dt.date.max else self.upper.isoformat()
        return f"[{low}, {high})"


@dataclasses.dataclass(frozen=True, slots=True)
class RegisteredTable:
    """A row of census_partitioned_tables: writers may write up to today + written_ahead_days."""

    table: str
    horizon_class: HorizonClass
    written_ahead_days: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class TableState:
    """A registered day-partitioned table as the catalog shows it now."""

    table: str
    horizon_class: HorizonClass
    partitions: tuple[DayPartition, ...]
    default_partition: str | None = None
    day_column: str = "day"
    written_ahead_days: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class RowTable:
    """A table that is not partitioned; rows whose `day_column` is past the horizon are deleted."""

    table: str
    day_column: str
    horizon_class: HorizonClass


# Tables holding install ids that are not day-partitioned (schemas/sql/0003_install_days.sql).
ROW_TABLES: Final = (RowTable("install_activity", "last_day", "install"),)


@dataclasses.dataclass(frozen=True, slots=True)
class TablePlan:
    table: str
    horizon_class: HorizonClass
    horizon_days: int
    keep_from: dt.date
    create: tuple[dt.date, ...]
    drop: tuple[DayPartition, ...]
    default_partition: str | None
    day_column: str
    trim: tuple[DayPartition, ...] = ()
    """Partitions that may hold rows past the horizon but reach into it (or whose range is not
    readable): their expired rows are deleted in batches, like the DEFAULT partition's."""

    @property
    def estimated_rows_dropped(self) -> int:
        return sum(p.estimated_rows for p in self.drop)

    @property
    def purged_by_delete(self) -> tuple[str, ...]:
        """The partitions whose expired rows go by batched DELETE, DEFAULT first."""
        default = () if self.default_partition is None else (self.default_partition,)
        return (*default, *(p.name for p in self.trim))


@dataclasses.dataclass(frozen=True, slots=True)
class RowPurge:
    table: str
    day_column: str
    horizon_class: HorizonClass
    keep_from: dt.date


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    today: dt.date
    ahead_days: int
    tables: tuple[TablePlan, ...]
    row_purges: tuple[RowPurge, ...]


def is_past_horizon(partition: DayPartition, keep_from: dt.date) -> bool:
    """Whether every day the partition can hold lies before `keep_from`."""
    return partition.upper is not None and partition.upper <= keep_from


def may_hold_expired(partition: DayPartition, keep_from: dt.date) -> bool:
    """Whether some day the partition can hold lies before `keep_from` (unknown range: maybe)."""
    return partition.lower is None or partition.upper is None or partition.lower < keep_from


def days_wanted(today: dt.date, written_ahead_days: int, ahead_days: int) -> list[dt.date]:
    """The days that must have a partition now: today up to the furthest day a writer may write
    (today + written_ahead_days), and `ahead_days` more, so a partition exists long before it is
    needed and a writer never has to create one."""
    return [today + dt.timedelta(days=i) for i in range(written_ahead_days + ahead_days + 1)]


def plan_table(state: TableState, horizons: Horizons, today: dt.date, ahead_days: int) -> TablePlan:
    days = horizons.days(state.horizon_class)
    keep_from = first_kept_day(today, days)
    create = tuple(
        d
        for d in days_wanted(today, state.written_ahead_days, ahead_days)
        if not any(p.covers(d) for p in state.partitions)
    )
    order = sorted(state.partitions, key=lambda p: (p.lower or dt.date.min, p.name))
    drop = tuple(p for p in order if is_past_horizon(p, keep_from))
    trim = tuple(
        p for p in order if not is_past_horizon(p, keep_from) and may_hold_expired(p, keep_from)
    )
    return TablePlan(
        state.table,
        state.horizon_class,
        days,
        keep_from,
        create,
        drop,
        state.default_partition,
        state.day_column,
        trim,
    )


def plan_pass(
    tables: Iterable[TableState],
    horizons: Horizons,
    today: dt.date,
    ahead_days: int,
    row_tables: Iterable[RowTable] = ROW_TABLES,
) -> Plan:
    """What one pass does on `today`: per table the days to create and the partitions to drop,
    and the row purges of non-partitioned tables."""
    if ahead_days < 0:
        raise ValueError(f"ahead_days must be >= 0, got {ahead_days}")
    table_plans = tuple(
        plan_table(t, horizons, today, ahead_days) for t in sorted(tables, key=lambda t: t.table)
    )
    purges = tuple(
        RowPurge(
            r.table,
            r.day_column,
            r.horizon_class,
            first_kept_day(today, horizons.days(r.horizon_class)),
        )
        for r in row_tables
    )
    return Plan(today, ahead_days, table_plans, purges)
