"""Query parameters of the pages and the API, checked; a bad one is a ParamError naming it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from schemas.catalog import Catalog

BASE_DIMENSIONS: Final = ("version", "platform", "os", "arch")
RANGES: Final = (7, 30, 90, 365)
DEFAULT_RANGE: Final = 30


class ParamError(ValueError):
    """A parameter (`name`) has a value the dashboard cannot use; `reason` says why."""

    def __init__(self, name: str, reason: str, status: int = 400) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class DayRange:
    """[start, end], UTC days, both included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def each(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]


def parse_day(name: str, raw: str) -> dt.date:
    try:
        if len(raw) != 10:
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ParamError(name, "expected a UTC day as YYYY-MM-DD") from None


def day_range(query: Mapping[str, str], today: dt.date, max_days: int) -> DayRange:
    """From `from`/`to` (days), or `range` (one of RANGES days ending `to`, default today)."""
    end = parse_day("to", query["to"]) if query.get("to") else today
    if end > today:
        raise ParamError("to", f"is after today ({today.isoformat()}, UTC)")
    if query.get("from"):
        if query.get("range"):
            raise ParamError("range", "give either range or from, not both")
        start = parse_day("from", query["from"])
    else:
        raw = query.get("range") or str(DEFAULT_RANGE)
        if raw not in {str(r) for r in RANGES}:
            raise ParamError("range", f"expected one of {', '.join(map(str, RANGES))} (days)")
        start = end - dt.timedelta(days=int(raw) - 1)
    if start > end:
        raise ParamError("from", "is after to")
    if (end - start).days + 1 > max_days:
        raise ParamError("from", f"the range is longer than {max_days} days")
    return DayRange(start, end)


def one_day(query: Mapping[str, str], today: dt.date) -> dt.date:
    day = parse_day("day", query["day"]) if query.get("day") else today
    if day > today:
        raise ParamError("day", f"is after today ({today.isoformat()}, UTC)")
    return day


def product(catalogs: Mapping[str, Catalog], raw: str) -> Catalog:
    catalog = catalogs.get(raw)
    if catalog is None:
        raise ParamError("product", f"unknown; one of {', '.join(sorted(catalogs))}", status=404)
    return catalog


def dimension(catalog: Catalog, raw: str) -> str:
    """A base dimension or a declared attr of the product."""
    if raw in BASE_DIMENSIONS or raw in catalog.attrs:
        return raw
    allowed = ", ".join([*BASE_DIMENSIONS, *catalog.attrs])
    raise ParamError("dimension", f"not a dimension of {catalog.product}; one of {allowed}", 404)


def outcome_by(catalog: Catalog, raw: str | None) -> str:
    """The declared dimension attr outcomes are grouped by (default: the first one)."""
    dims = catalog.dimensions
    if not dims:
        raise ParamError("by", f"{catalog.product} declares no dimension attrs")
    if raw is None or raw == "":
        return dims[0]
    if raw not in dims:
        raise ParamError("by", f"not a dimension of {catalog.product}; one of {', '.join(dims)}")
    return raw


def run_event(catalog: Catalog, raw: str | None, countable: str | None) -> str:
    """The event outcomes are counted over: `countable`, the only one whose count is a count of
    installs (outcomes.run_event); a product without one publishes no outcomes."""
    if countable is None:
        raise ParamError(
            "product",
            f"{catalog.product} publishes no outcomes: its events are not one per install",
            404,
        )
    if raw and raw != countable:
        raise ParamError("event", f"only {countable!r} is counted (one event per run)")
    return countable
