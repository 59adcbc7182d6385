"""A fake AnalystStore for the dashboard's unit tests: rows held in lists, filtered like the
views are; and helpers to run `census dashboard` as a process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.dashboard.rows import (
    ActiveRow,
    ActivityRow,
    AttrRow,
    CohortRow,
    CountRow,
    FreshnessRow,
    LatestActivity,
    OutcomeEvents,
    ValueRow,
)
from services.dashboard.store import StoreUnavailable


@dataclass
class FakeStore:
    activity_rows: dict[str, list[ActivityRow]] = field(default_factory=dict)
    active_rows: dict[str, list[ActiveRow]] = field(default_factory=dict)
    attr_rows: dict[tuple[str, str], list[ValueRow]] = field(default_factory=dict)
    count_rows: dict[str, list[CountRow]] = field(default_factory=dict)
    outcome_rows: dict[str, list[OutcomeEvents]] = field(default_factory=dict)
    down: bool = False
    calls: int = 0

    def _touch(self) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("ConnectionRefusedError")

    async def activity(self, product: str, start: dt.date, end: dt.date) -> list[ActivityRow]:
        self._touch()
        return [r for r in self.activity_rows.get(product, []) if start <= r.day <= end]

    async def latest_activity(self, day: dt.date) -> list[LatestActivity]:
        self._touch()
        out = []
        for product, rows in self.activity_rows.items():
            past = [r for r in rows if r.day <= day and r.dau > 0]
            if past:
                out.append(LatestActivity(product, max(past, key=lambda r: r.day)))
        return out

    async def active_installs(self, product: str, start: dt.date, end: dt.date) -> list[ActiveRow]:
        self._touch()
        return [r for r in self.active_rows.get(product, []) if start <= r.day <= end]

    async def attr_values(
        self, product: str, attr: str, start: dt.date, end: dt.date
    ) -> list[ValueRow]:
        self._touch()
        return [r for r in self.attr_rows.get((product, attr), []) if start <= r.day <= end]

    async def attr_values_day(self, product: str, day: dt.date) -> list[AttrRow]:
        self._touch()
        return [
            AttrRow(attr, r.value, r.installs)
            for (p, attr), rows in self.attr_rows.items()
            if p == product
            for r in rows
            if r.day == day
        ]

    async def counts(self, product: str, day: dt.date) -> list[CountRow]:
        self._touch()
        return list(self.count_rows.get(product, []))

    async def outcomes(
        self,
        product: str,
        event: str | None,
        by: str,
        outcome: str,
        category: str | None,
        start: dt.date,
        end: dt.date,
    ) -> list[OutcomeEvents]:
        self._touch()
        return [r for r in self.outcome_rows.get(product, []) if start <= r.day <= end]

    async def cohorts(self, product: str, since: dt.date) -> list[CohortRow]:
        self._touch()
        return []

    async def freshness(self) -> list[FreshnessRow]:
        self._touch()
        return [
            FreshnessRow(p, max(r.day for r in rows), None)
            for p, rows in self.activity_rows.items()
            if rows
        ]
