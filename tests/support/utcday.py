"""Keeping a test inside one UTC day, so 'today' means the same day to the test and the server."""

from __future__ import annotations

import asyncio
import datetime as dt


async def same_utc_day_for(*, seconds: float) -> None:
    """If the next `seconds` would cross midnight UTC, wait until just after it."""
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    if (midnight - now).total_seconds() < seconds:
        await asyncio.sleep((midnight - now).total_seconds() + 1)
