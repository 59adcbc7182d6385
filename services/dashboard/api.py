"""The response types of /api/v1/ (msgspec Structs); the OpenAPI document is generated from them.

A number that may not be published (fewer than k installs behind it, or a difference with another
published number that would reveal such a group) is null, never a small value.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class Problem(msgspec.Struct, frozen=True):
    """A refused request: `parameter` names what to fix."""

    error: str
    parameter: str | None
    reason: str


class Privacy(msgspec.Struct, frozen=True):
    """The minimum-count rule every number of the response obeys."""

    min_installs: int
    other: str = "other"


class Freshness(msgspec.Struct, frozen=True):
    """When the data was last updated (UTC)."""

    latest_day: dt.date | None
    aggregated_at: dt.datetime | None


class ProductSummary(msgspec.Struct, frozen=True):
    product: str
    name: str
    description: str
    day: dt.date | None
    dau: int | None
    wau: int | None
    mau: int | None


class Products(msgspec.Struct, frozen=True):
    products: list[ProductSummary]
    privacy: Privacy
    freshness: Freshness


class ActivityDay(msgspec.Struct, frozen=True):
    day: dt.date
    dau: int | None
    wau: int | None
    mau: int | None
    new: int | None


class Activity(msgspec.Struct, frozen=True):
    product: str
    start: dt.date = msgspec.field(name="from")
    end: dt.date = msgspec.field(name="to")
    days: list[ActivityDay] = []
    privacy: Privacy = Privacy(5)
    freshness: Freshness = Freshness(None, None)


class Cell(msgspec.Struct, frozen=True):
    value: str
    installs: int
    share: float


class BreakdownDay(msgspec.Struct, frozen=True):
    """One day's partition: published cells, then `other` (suppressed and unreported installs);
    cells + other = total. total null: fewer than k installs that day, nothing shown."""

    day: dt.date
    total: int | None
    cells: list[Cell]
    other: int


class Breakdown(msgspec.Struct, frozen=True):
    product: str
    dimension: str
    start: dt.date = msgspec.field(name="from")
    end: dt.date = msgspec.field(name="to")
    days: list[BreakdownDay] = []
    privacy: Privacy = Privacy(5)
    freshness: Freshness = Freshness(None, None)


class HistogramBucket(msgspec.Struct, frozen=True):
    """Installs whose value lies in [lo, hi); adjacent log2 buckets merged to hold at least k."""

    lo: int
    hi: int
    installs: int


class CountStats(msgspec.Struct, frozen=True):
    """One count key: null statistics when fewer than k installs report it, or when the installs
    not reporting it are fewer than k (the difference would reveal them)."""

    key: str
    purpose: str
    installs: int | None
    sum: int | None
    mean: float | None
    min: int | None
    max: int | None
    p50: float | None
    p90: float | None
    p99: float | None
    histogram: list[HistogramBucket]


class Counts(msgspec.Struct, frozen=True):
    product: str
    day: dt.date
    counts: list[CountStats]
    privacy: Privacy
    freshness: Freshness


class OutcomeRow(msgspec.Struct, frozen=True):
    """One value of the `by` dimension over the range: runs (events), failures and their ratio
    (null under the minimum number of runs or when failures are fewer than k), the outcome
    breakdown and the failure categories."""

    value: str
    runs: int
    failed: int | None
    failure_ratio: float | None
    outcomes: list[Cell]
    categories: list[Cell]


class OutcomeDay(msgspec.Struct, frozen=True):
    day: dt.date
    runs: int | None
    failed: int | None
    failure_ratio: float | None


class Outcomes(msgspec.Struct, frozen=True):
    product: str
    event: str | None
    by: str
    outcome: str | None
    min_runs: int
    start: dt.date = msgspec.field(name="from")
    end: dt.date = msgspec.field(name="to")
    rows: list[OutcomeRow] = []
    other_runs: int = 0
    days: list[OutcomeDay] = []
    privacy: Privacy = Privacy(5)
    freshness: Freshness = Freshness(None, None)


class CohortWeek(msgspec.Struct, frozen=True):
    """Installs first seen in the week starting `week`, and of them how many were active in each
    following week (index 0 is week +1); null where suppressed."""

    week: dt.date
    installs: int | None
    active: list[int | None]


class Cohorts(msgspec.Struct, frozen=True):
    product: str
    weeks: list[CohortWeek]
    privacy: Privacy
    freshness: Freshness


class ExportRow(msgspec.Struct, frozen=True):
    """One published number of a day: table (activity, breakdown, adoption, count, outcome),
    what it is about, the value it is for, and the metric."""

    table: str
    subject: str
    value: str
    metric: str
    number: float


class DayExport(msgspec.Struct, frozen=True):
    product: str
    day: dt.date
    rows: list[ExportRow]
    privacy: Privacy
