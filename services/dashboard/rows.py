"""What the store reads from the analyst views: plain rows, before any suppression."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ActivityRow:
    day: dt.date
    dau: int
    wau: int
    mau: int
    new: int


@dataclass(frozen=True)
class LatestActivity:
    product: str
    row: ActivityRow


@dataclass(frozen=True)
class ActiveRow:
    """One cell of the version x platform x os x arch table of a day."""

    day: dt.date
    version: str
    platform: str
    os: str
    arch: str
    installs: int

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.version, self.platform, self.os, self.arch)


@dataclass(frozen=True)
class ValueRow:
    day: dt.date
    value: str
    installs: int


@dataclass(frozen=True)
class AttrRow:
    attr: str
    value: str
    installs: int


@dataclass(frozen=True)
class CountRow:
    key: str
    installs: int
    sum: int
    min: int
    max: int
    histogram: tuple[int, ...]


@dataclass(frozen=True)
class OutcomeEvents:
    day: dt.date
    value: str
    outcome: str
    category: str
    events: int


@dataclass(frozen=True)
class CohortRow:
    week: dt.date
    offset: int
    installs: int


@dataclass(frozen=True)
class FreshnessRow:
    product: str
    latest_day: dt.date
    aggregated_at: dt.datetime | None
