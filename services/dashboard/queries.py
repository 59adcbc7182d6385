"""The SQL the dashboard runs: each builder returns (statement, arguments) over the analyst views
(docs/analysts.md, schemas/sql/0013_dashboard_views.sql) only. User input is only ever an
argument, never part of the statement."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

Query = tuple[str, tuple[Any, ...]]

VIEWS: Final = frozenset(
    {
        "dau_wau_mau",
        "new_installs_daily",
        "active_installs_daily",
        "feature_adoption",
        "count_histograms",
        "event_outcomes",
        "cohort_weeks",
        "data_freshness",
    }
)
"""Every relation a dashboard query may name (a unit test parses each statement for it)."""


def activity(product: str, start: dt.date, end: dt.date) -> Query:
    """DAU / WAU / MAU and new installs per day of [start, end]."""
    return (
        """SELECT a.day, a.dau, a.wau, a.mau, coalesce(n.installs, 0) AS new
             FROM dau_wau_mau a
             LEFT JOIN new_installs_daily n ON n.day = a.day AND n.product = a.product
            WHERE a.product = $1 AND a.day BETWEEN $2 AND $3
            ORDER BY a.day""",
        (product, start, end),
    )


def latest_activity(day: dt.date) -> Query:
    """Per product, its latest day with an active install up to `day`, with its numbers."""
    return (
        """SELECT DISTINCT ON (a.product) a.product, a.day, a.dau, a.wau, a.mau,
                  coalesce(n.installs, 0) AS new
             FROM dau_wau_mau a
             LEFT JOIN new_installs_daily n ON n.day = a.day AND n.product = a.product
            WHERE a.day <= $1 AND a.dau > 0
            ORDER BY a.product, a.day DESC""",
        (day,),
    )


def active_installs(product: str, start: dt.date, end: dt.date) -> Query:
    """The version x platform x os x arch table per day (the atoms of every base breakdown)."""
    return (
        """SELECT day, version, platform, os, arch, installs
             FROM active_installs_daily
            WHERE product = $1 AND day BETWEEN $2 AND $3
            ORDER BY day""",
        (product, start, end),
    )


def attr_values(product: str, attr: str, start: dt.date, end: dt.date) -> Query:
    """Installs per value of one declared attr per day."""
    return (
        """SELECT day, value, installs
             FROM feature_adoption
            WHERE product = $1 AND attr = $2 AND day BETWEEN $3 AND $4
            ORDER BY day""",
        (product, attr, start, end),
    )


def attr_values_day(product: str, day: dt.date) -> Query:
    """Installs per value of every declared attr on one day."""
    return (
        """SELECT attr, value, installs
             FROM feature_adoption
            WHERE product = $1 AND day = $2""",
        (product, day),
    )


def counts(product: str, day: dt.date) -> Query:
    """Per count key on one day: installs reporting, sum, min, max and the log2 histogram."""
    return (
        """SELECT count_key, installs, sum, min, max, histogram
             FROM count_histograms
            WHERE product = $1 AND day = $2
            ORDER BY count_key""",
        (product, day),
    )


def outcomes(
    product: str, event: str | None, by: str, outcome: str, category: str | None,
    start: dt.date, end: dt.date,
) -> Query:  # fmt: skip
    """Events per day, value of the `by` dimension, outcome value and failure category."""
    return (
        """SELECT day, coalesce(dimensions ->> $2, '') AS value,
                  coalesce(dimensions ->> $3, '') AS outcome,
                  coalesce(dimensions ->> $4, '') AS category,
                  sum(events)::bigint AS events
             FROM event_outcomes
            WHERE product = $1 AND ($5::text IS NULL OR event = $5)
              AND day BETWEEN $6 AND $7
            GROUP BY 1, 2, 3, 4
            ORDER BY 1""",
        (product, by, outcome, category or "", event, start, end),
    )


def cohorts(product: str, since: dt.date) -> Query:
    """Installs of each weekly cohort (first seen in week W) active in week W + offset."""
    return (
        """SELECT cohort_week, week_offset, installs
             FROM cohort_weeks
            WHERE product = $1 AND cohort_week >= $2
            ORDER BY cohort_week, week_offset""",
        (product, since),
    )


def freshness() -> Query:
    """When the aggregator last committed, and the latest day with data per product."""
    return ("SELECT product, latest_day, aggregated_at FROM data_freshness", ())
