"""The dashboard's gauges: published aggregates for Prometheus, under the same privacy rule as
the pages. Label values come from catalogs (products, declared dimensions, enum values) or are
the top N values by runs: never unbounded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.dashboard import outcomes
from services.dashboard.params import DayRange
from services.dashboard.reader import Reader

WINDOWS = (("1d", "dau"), ("7d", "wau"), ("28d", "mau"))
OUTCOME_DAYS = 7
"""Failure ratios are over the last 7 days, today included."""


@dataclass
class Snapshot:
    active: dict[tuple[str, str], int] = field(default_factory=dict)
    dau_ratio: dict[str, float] = field(default_factory=dict)
    runs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    failure_ratio: dict[tuple[str, str, str], float] = field(default_factory=dict)
    data_age_s: float | None = None


async def collect(reader: Reader, top: int) -> Snapshot:
    """The gauges' values: the last complete day's activity and the last week's outcomes."""
    snap = Snapshot()
    today = reader.today()
    yesterday = today - dt.timedelta(days=1)
    for slug, catalog in sorted(reader.catalogs.items()):
        act = await reader.activity(catalog, DayRange(yesterday - dt.timedelta(days=1), yesterday))
        by_day = {d.day: d for d in act.days}
        last = by_day.get(yesterday)
        if last is not None:
            for window, attr in WINDOWS:
                value = getattr(last, attr)
                if value is not None:
                    snap.active[(slug, window)] = value
            before = by_day.get(yesterday - dt.timedelta(days=1))
            if before is not None and before.dau and last.dau is not None:
                snap.dau_ratio[slug] = last.dau / before.dau
        event = outcomes.run_event(catalog)
        if event is None:
            continue
        days = DayRange(today - dt.timedelta(days=OUTCOME_DAYS - 1), today)
        for dim in catalog.dimensions:
            if dim in {outcomes.OUTCOME_ATTR, outcomes.CATEGORY_ATTR}:
                continue
            declared = set(catalog.attrs[dim].values)
            report = await reader.outcomes(catalog, event, dim, days)
            rows = [r for r in report.rows if not declared or r.value in declared][:top]
            for r in rows:
                snap.runs[(slug, dim, r.value)] = r.runs
                if r.failure_ratio is not None:
                    snap.failure_ratio[(slug, dim, r.value)] = r.failure_ratio
    stamps = reader.freshness().aggregated_at
    if stamps is not None:
        snap.data_age_s = max((reader.clock() - stamps).total_seconds(), 0.0)
    return snap


class DashboardMetrics:
    """census_dashboard_*, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "census_dashboard_active_installs",
            "Active installs of the last complete UTC day per window (1d DAU, 7d WAU, 28d MAU); "
            "absent when fewer than k",
            ["product", "window"],
            registry=registry,
        )
        self.dau_ratio = Gauge(
            "census_dashboard_dau_day_over_day_ratio",
            "DAU of the last complete day over the DAU of the day before",
            ["product"],
            registry=registry,
        )
        self.runs = Gauge(
            "census_dashboard_outcome_runs",
            "Runs (terminal events) of the last 7 days per value of a declared dimension (top N)",
            ["product", "dimension", "value"],
            registry=registry,
        )
        self.failure_ratio = Gauge(
            "census_dashboard_failure_ratio",
            "Failed runs over runs, last 7 days, per value of a declared dimension (top N); "
            "absent under the minimum runs or fewer than k failures",
            ["product", "dimension", "value"],
            registry=registry,
        )
        self.data_age = Gauge(
            "census_dashboard_data_age_seconds",
            "Seconds since the aggregator last committed rollups",
            registry=registry,
        )
        self.refresh_failures = Counter(
            "census_dashboard_refresh_failures_total",
            "Gauge refreshes that failed (PostgreSQL unavailable)",
            registry=registry,
        )

    def update(self, snap: Snapshot) -> None:
        for gauge in (self.active, self.dau_ratio, self.runs, self.failure_ratio):
            gauge.clear()
        for (product, window), n in snap.active.items():
            self.active.labels(product, window).set(n)
        for product, ratio in snap.dau_ratio.items():
            self.dau_ratio.labels(product).set(ratio)
        for labels, n in snap.runs.items():
            self.runs.labels(*labels).set(n)
        for labels, ratio in snap.failure_ratio.items():
            self.failure_ratio.labels(*labels).set(ratio)
        if snap.data_age_s is not None:
            self.data_age.set(snap.data_age_s)
