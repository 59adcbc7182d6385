"""Reading a day partition's range from PostgreSQL's partition bound text. Pure."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

_RANGE: Final = re.compile(
    r"^FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)$"
)


def upper_bound(expr: str | None) -> dt.date | None:
    """The exclusive upper day of `FOR VALUES FROM ('a') TO ('b')`, or None for anything else
    (DEFAULT, MINVALUE/MAXVALUE, several columns): such a partition is never dropped whole."""
    if expr is None:
        return None
    match = _RANGE.match(expr.strip())
    if match is None:
        return None
    try:
        lower = dt.date.fromisoformat(match.group(1))
        upper = dt.date.fromisoformat(match.group(2))
    except ValueError:
        return None
    return upper if lower < upper else None
