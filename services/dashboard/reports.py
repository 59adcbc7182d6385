"""From the rows of the analyst views to what is published, through the privacy rule. Pure."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from schemas.catalog import Catalog
from services.dashboard import api, privacy
from services.dashboard.outcomes import FAILURE_VALUES
from services.dashboard.params import BASE_DIMENSIONS
from services.dashboard.rows import (
    ActiveRow,
    ActivityRow,
    AttrRow,
    CohortRow,
    CountRow,
    OutcomeEvents,
    ValueRow,
)

COHORT_WEEKS = 12
"""Weeks after its first a cohort is followed (the per-install horizon, 90 days, holds 12)."""


def activity_day(row: ActivityRow, k: int) -> api.ActivityDay:
    cells = privacy.activity(row.dau, row.wau, row.mau, row.new, k)
    return api.ActivityDay(row.day, cells.dau, cells.wau, cells.mau, cells.new)


def activity_days(rows: Iterable[ActivityRow], k: int) -> list[api.ActivityDay]:
    return [activity_day(row, k) for row in rows]


def _cells(folded: privacy.Folded[str]) -> list[api.Cell]:
    return [
        api.Cell(value, n, n / folded.total if folded.total else 0.0)
        for value, n in folded.kept.items()
    ]


def _day(day: dt.date, folded: privacy.Folded[str] | None) -> api.BreakdownDay:
    if folded is None:
        return api.BreakdownDay(day, None, [], 0)
    return api.BreakdownDay(day, folded.total, _cells(folded), folded.other)


def base_breakdowns_day(
    day: dt.date, rows: Sequence[ActiveRow], k: int
) -> dict[str, api.BreakdownDay]:
    """The four base dimensions of the day, folded together (privacy.fold_dimensions), so that
    no two of the day's breakdowns, nor one and the total, differ by a group of fewer than k."""
    atoms: dict[tuple[str, ...], int] = {}
    for row in rows:
        atoms[row.key] = atoms.get(row.key, 0) + row.installs
    folded = privacy.fold_dimensions(atoms, len(BASE_DIMENSIONS), k)
    return {
        dim: _day(day, None if folded is None else folded[i])
        for i, dim in enumerate(BASE_DIMENSIONS)
    }


def base_breakdowns(
    rows: Iterable[ActiveRow], days: Sequence[dt.date], k: int
) -> dict[str, list[api.BreakdownDay]]:
    by_day: dict[dt.date, list[ActiveRow]] = defaultdict(list)
    for row in rows:
        by_day[row.day].append(row)
    out: dict[str, list[api.BreakdownDay]] = {dim: [] for dim in BASE_DIMENSIONS}
    for day in days:
        for dim, breakdown in base_breakdowns_day(day, by_day.get(day, []), k).items():
            out[dim].append(breakdown)
    return out


def attr_breakdown_day(
    day: dt.date, values: Mapping[str, int], dau: int, k: int
) -> api.BreakdownDay:
    """One attr's values among the day's active installs; those not reporting it are in other."""
    return _day(day, privacy.fold(values, dau, k))


def attr_breakdown(
    rows: Iterable[ValueRow], dau: Mapping[dt.date, int], days: Sequence[dt.date], k: int
) -> list[api.BreakdownDay]:
    by_day: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for row in rows:
        by_day[row.day][row.value] = row.installs
    return [attr_breakdown_day(day, by_day.get(day, {}), dau.get(day, 0), k) for day in days]


def count_stats(row: CountRow, purpose: str, dau: int, k: int) -> api.CountStats:
    """A count key's statistics, or nulls when its reporters (or those not reporting) are < k."""
    if not privacy.subset_of(dau, row.installs, k):
        return api.CountStats(row.key, purpose, None, None, None, None, None, None, None, None, [])
    buckets = privacy.merge_buckets(row.histogram, k)

    def q(x: float) -> float | None:
        return privacy.quantile(buckets, x, row.min, row.max)

    return api.CountStats(
        key=row.key,
        purpose=purpose,
        installs=row.installs,
        sum=row.sum,
        mean=row.sum / row.installs,
        min=row.min,
        max=row.max,
        p50=q(0.5),
        p90=q(0.9),
        p99=q(0.99),
        histogram=[api.HistogramBucket(b.lo, b.hi, b.installs) for b in buckets],
    )


def counts(rows: Iterable[CountRow], catalog: Catalog, dau: int, k: int) -> list[api.CountStats]:
    found = {row.key: row for row in rows}
    stats = []
    for key, spec in catalog.counts.items():
        row = found.get(key, CountRow(key, 0, 0, 0, 0, ()))
        stats.append(count_stats(row, spec.purpose, dau, k))
    return stats


@dataclass(frozen=True)
class OutcomeRules:
    k: int
    min_runs: int
    has_outcome: bool
    has_category: bool


def _failed(outcomes: privacy.Folded[str] | None, raw: Mapping[str, int]) -> int | None:
    """Failures, when every failure value with runs is published (else the count is hidden)."""
    if outcomes is None:
        return None
    failed = 0
    for value in FAILURE_VALUES:
        n = raw.get(value, 0)
        if n and value not in outcomes.kept:
            return None
        failed += n
    return failed


def _ratio(failed: int | None, runs: int | None, rules: OutcomeRules) -> float | None:
    if failed is None or runs is None or runs < rules.min_runs or not rules.has_outcome:
        return None
    return failed / runs


def outcome_rows(
    events: Iterable[OutcomeEvents], rules: OutcomeRules
) -> tuple[list[api.OutcomeRow], int]:
    """Per value of the `by` dimension over the range, and the runs folded into other."""
    runs: dict[str, int] = defaultdict(int)
    by_outcome: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in events:
        runs[e.value] += e.events
        by_outcome[e.value][e.outcome] += e.events
        if e.outcome in FAILURE_VALUES:
            by_category[e.value][e.category] += e.events
    folded = privacy.fold(runs, sum(runs.values()), rules.k)
    if folded is None:
        return [], 0
    rows = []
    for value, n in folded.kept.items():
        outcome_cells = privacy.fold(by_outcome[value], n, rules.k) if rules.has_outcome else None
        failed = _failed(outcome_cells, by_outcome[value]) if rules.has_outcome else None
        categories: privacy.Folded[str] | None = None
        if failed and rules.has_category:
            categories = privacy.fold(by_category[value], failed, rules.k)
        rows.append(
            api.OutcomeRow(
                value=value,
                runs=n,
                failed=failed,
                failure_ratio=_ratio(failed, n, rules),
                outcomes=_cells(outcome_cells) if outcome_cells else [],
                categories=_cells(categories) if categories else [],
            )
        )
    return rows, folded.other


def outcome_days(
    events: Iterable[OutcomeEvents], days: Sequence[dt.date], rules: OutcomeRules
) -> list[api.OutcomeDay]:
    """Runs and failures of each day; failures are a subset of runs, both must be publishable."""
    runs: dict[dt.date, int] = defaultdict(int)
    failed: dict[dt.date, int] = defaultdict(int)
    for e in events:
        runs[e.day] += e.events
        if e.outcome in FAILURE_VALUES:
            failed[e.day] += e.events
    out = []
    for day in days:
        n, f = runs.get(day, 0), failed.get(day, 0)
        shown_runs = n if n >= rules.k else None
        shown_failed = (
            f if shown_runs is not None and rules.has_outcome and (
                f == 0 or privacy.subset_of(n, f, rules.k)
            ) else None
        )  # fmt: skip
        out.append(
            api.OutcomeDay(day, shown_runs, shown_failed, _ratio(shown_failed, shown_runs, rules))
        )
    return out


def cohort_weeks(rows: Iterable[CohortRow], today: dt.date, k: int) -> list[api.CohortWeek]:
    """The retention triangle: a cohort's size, and each later week's actives (a subset of it)."""
    by_week: dict[dt.date, dict[int, int]] = defaultdict(dict)
    for row in rows:
        by_week[row.week][row.offset] = row.installs
    weeks = []
    for week in sorted(by_week):
        offsets = by_week[week]
        size = offsets.get(0, 0)
        if size < k:
            weeks.append(api.CohortWeek(week, None, []))
            continue
        active: list[int | None] = []
        for offset in range(1, COHORT_WEEKS + 1):
            if week + dt.timedelta(weeks=offset) > today:
                break
            n = offsets.get(offset, 0)
            active.append(n if n == 0 or privacy.subset_of(size, n, k) else None)
        weeks.append(api.CohortWeek(week, size, active))
    return weeks


def attr_rows_by_attr(rows: Iterable[AttrRow]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        out[row.attr][row.value] = row.installs
    return out
