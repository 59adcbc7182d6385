"""Which of a batch's records may still be counted, and where, given the horizons. Pure.

The retention worker keeps the H most recent UTC days of a table, today included, and drops the
day partitions before them (services/retention/plan.py; a test holds the two rules equal). A
record older than that must not be written, or a replay would recreate a partition retention
dropped. So:

- inside the per-install horizon (and the rollup one): counted everywhere;
- past the per-install horizon, inside the rollup horizon: counted only in `rollup_events`. The
  install's row of that day is gone, so nothing can tell whether the install was counted that day
  already (the active installs, attrs, counts and DAU/WAU/MAU), nor whether the ping is a retry;
  an event counts pings, which needs neither;
- past both: counted nowhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas.record import PingRecord
from services.common.settings import HorizonSettings


def first_kept_day(today: dt.date, horizon_days: int) -> dt.date:
    """The oldest day a horizon of `horizon_days` keeps (today counts as one)."""
    return today - dt.timedelta(days=horizon_days - 1)


@dataclass(slots=True)
class Split:
    """A batch's records by where they may be counted, each list with its records' UTC days."""

    records: list[PingRecord] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    events_only: list[PingRecord] = field(default_factory=list)
    events_only_days: list[dt.date] = field(default_factory=list)
    too_old: int = 0


def split(
    records: list[PingRecord], days: list[dt.date], horizons: HorizonSettings, today: dt.date
) -> Split:
    """The records counted everywhere, those counted in events only, and how many are too old."""
    rollup_floor = first_kept_day(today, horizons.rollup_days)
    install_floor = max(first_kept_day(today, horizons.install_days), rollup_floor)
    if not days or min(days) >= install_floor:  # the usual batch: one list scan, no copies
        return Split(records, days)
    out = Split()
    for record, day in zip(records, days, strict=True):
        if day >= install_floor:
            out.records.append(record)
            out.days.append(day)
        elif day >= rollup_floor:
            out.events_only.append(record)
            out.events_only_days.append(day)
        else:
            out.too_old += 1
    return out
