"""The answers of the API and the pages: store rows through the reports, for a product's catalog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.catalog import Catalog
from services.dashboard import api, outcomes, reports
from services.dashboard.params import BASE_DIMENSIONS, DayRange
from services.dashboard.rows import FreshnessRow
from services.dashboard.store import AnalystStore

Clock = Callable[[], dt.datetime]
"""Now, UTC."""


@dataclass(frozen=True)
class Rules:
    k: int
    min_runs: int


class Reader:
    def __init__(
        self, store: AnalystStore, catalogs: Mapping[str, Catalog], rules: Rules, clock: Clock
    ) -> None:
        self.store = store
        self.catalogs = catalogs
        self.rules = rules
        self.clock = clock
        self.privacy = api.Privacy(rules.k)
        self._freshness: list[FreshnessRow] = []

    def today(self) -> dt.date:
        return self.clock().date()

    async def refresh_freshness(self) -> None:
        """Reads "data as of" (every few seconds; doubles as the readiness probe)."""
        self._freshness = await self.store.freshness()

    def freshness(self, product: str | None = None) -> api.Freshness:
        rows = [r for r in self._freshness if product is None or r.product == product]
        if not rows:
            return api.Freshness(None, None)
        stamps = [r.aggregated_at for r in rows if r.aggregated_at is not None]
        return api.Freshness(max(r.latest_day for r in rows), max(stamps) if stamps else None)

    async def products(self) -> api.Products:
        latest = {a.product: a.row for a in await self.store.latest_activity(self.today())}
        out = []
        for slug, catalog in sorted(self.catalogs.items()):
            row = latest.get(slug)
            cells = reports.activity_day(row, self.rules.k) if row else None
            out.append(
                api.ProductSummary(
                    slug,
                    catalog.name,
                    catalog.description,
                    row.day if row else None,
                    cells.dau if cells else None,
                    cells.wau if cells else None,
                    cells.mau if cells else None,
                )
            )
        return api.Products(out, self.privacy, self.freshness())

    async def activity(self, catalog: Catalog, days: DayRange) -> api.Activity:
        rows = await self.store.activity(catalog.product, days.start, days.end)
        return api.Activity(
            catalog.product,
            days.start,
            days.end,
            reports.activity_days(rows, self.rules.k),
            self.privacy,
            self.freshness(catalog.product),
        )

    async def _dau(self, catalog: Catalog, days: DayRange) -> dict[dt.date, int]:
        rows = await self.store.activity(catalog.product, days.start, days.end)
        return {r.day: r.dau for r in rows}

    async def breakdown(self, catalog: Catalog, dimension: str, days: DayRange) -> api.Breakdown:
        k = self.rules.k
        if dimension in BASE_DIMENSIONS:
            active = await self.store.active_installs(catalog.product, days.start, days.end)
            series = reports.base_breakdowns(active, days.each(), k)[dimension]
        else:
            values = await self.store.attr_values(catalog.product, dimension, days.start, days.end)
            dau = await self._dau(catalog, days)
            series = reports.attr_breakdown(values, dau, days.each(), k)
        return api.Breakdown(
            catalog.product,
            dimension,
            days.start,
            days.end,
            series,
            self.privacy,
            self.freshness(catalog.product),
        )

    async def base_breakdowns(self, catalog: Catalog, days: DayRange) -> dict[str, api.Breakdown]:
        """All four base breakdowns from one read of the version x platform x os x arch table."""
        active = await self.store.active_installs(catalog.product, days.start, days.end)
        fresh = self.freshness(catalog.product)
        series = reports.base_breakdowns(active, days.each(), self.rules.k)
        return {
            dim: api.Breakdown(
                catalog.product, dim, days.start, days.end, series[dim], self.privacy, fresh
            )
            for dim in BASE_DIMENSIONS
        }

    async def adoption_day(self, catalog: Catalog, day: dt.date) -> dict[str, api.BreakdownDay]:
        """Every declared attr's values on one day."""
        rows = reports.attr_rows_by_attr(await self.store.attr_values_day(catalog.product, day))
        dau = (await self._dau(catalog, DayRange(day, day))).get(day, 0)
        return {
            attr: reports.attr_breakdown_day(day, rows.get(attr, {}), dau, self.rules.k)
            for attr in catalog.attrs
        }

    async def counts(self, catalog: Catalog, day: dt.date) -> api.Counts:
        rows = await self.store.counts(catalog.product, day)
        dau = (await self._dau(catalog, DayRange(day, day))).get(day, 0)
        return api.Counts(
            catalog.product,
            day,
            reports.counts(rows, catalog, dau, self.rules.k),
            self.privacy,
            self.freshness(catalog.product),
        )

    async def outcomes(
        self, catalog: Catalog, event: str | None, by: str, days: DayRange
    ) -> api.Outcomes:
        outcome = outcomes.outcome_attr(catalog)
        category = outcomes.category_attr(catalog)
        events = await self.store.outcomes(
            catalog.product, event, by, outcome or "", category, days.start, days.end
        )
        rules = reports.OutcomeRules(
            self.rules.k, self.rules.min_runs, outcome is not None, category is not None
        )
        rows, other = reports.outcome_rows(events, rules)
        return api.Outcomes(
            product=catalog.product,
            event=event,
            by=by,
            outcome=outcome,
            min_runs=self.rules.min_runs,
            start=days.start,
            end=days.end,
            rows=rows,
            other_runs=other,
            days=reports.outcome_days(events, days.each(), rules),
            privacy=self.privacy,
            freshness=self.freshness(catalog.product),
        )

    async def cohorts(self, catalog: Catalog) -> api.Cohorts:
        today = self.today()
        since = today - dt.timedelta(weeks=reports.COHORT_WEEKS + 1)
        rows = await self.store.cohorts(catalog.product, since)
        return api.Cohorts(
            catalog.product,
            reports.cohort_weeks(rows, today, self.rules.k),
            self.privacy,
            self.freshness(catalog.product),
        )
