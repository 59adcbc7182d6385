"""Every query builder of the dashboard: it names only analyst views, and user input travels
only as arguments."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest

from services.dashboard import queries

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 20)
HOSTILE = "x'; DROP TABLE install_days; --"

BUILT = {
    "activity": queries.activity(HOSTILE, D1, D2),
    "latest_activity": queries.latest_activity(D2),
    "active_installs": queries.active_installs(HOSTILE, D1, D2),
    "attr_values": queries.attr_values(HOSTILE, HOSTILE, D1, D2),
    "attr_values_day": queries.attr_values_day(HOSTILE, D2),
    "counts": queries.counts(HOSTILE, D2),
    "outcomes": queries.outcomes(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, D1, D2),
    "cohorts": queries.cohorts(HOSTILE, D1),
    "freshness": queries.freshness(),
}


def test_every_builder_is_covered() -> None:
    builders = {
        name
        for name, fn in inspect.getmembers(queries, inspect.isfunction)
        if fn.__module__ == queries.__name__
    }
    assert builders == set(BUILT)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_reads_only_analyst_views(name: str) -> None:
    sql, _ = BUILT[name]
    relations = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", sql, flags=re.I))
    assert relations, sql
    assert relations <= queries.VIEWS, relations - queries.VIEWS
    assert "install_days" not in sql and "install_id" not in sql


@pytest.mark.parametrize("name", sorted(BUILT))
def test_input_is_only_ever_an_argument(name: str) -> None:
    sql, args = BUILT[name]
    assert HOSTILE not in sql
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert placeholders == set(range(1, len(args) + 1))


def test_outcomes_filters_by_event_only_when_given() -> None:
    sql, args = queries.outcomes("p", None, "nsapp", "status", None, D1, D2)
    assert "$5::text IS NULL OR event = $5" in sql
    assert args[4] is None and args[3] == ""
