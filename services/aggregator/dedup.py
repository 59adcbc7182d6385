"""Retried pings: which records of a batch are new, given the ping ids stored in install days. Pure.

A client that did not get its 202 sends the same `ping_id` again. Every install-day row keeps the
ids of the pings counted in it (`install_days.ping_ids`, 16 bytes each, concatenated), and this
aggregator reads that row anyway, so a retry costs no separate lookup. A retry received within
`RETRY_WINDOW` after midnight UTC is also checked against the install's row of the day before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Final

from schemas.record import PingRecord
from services.aggregator.rollup import DayKey, InstallDay

RETRY_WINDOW: Final = dt.timedelta(hours=1)
"""How long after midnight a retry is still matched against the previous day's pings."""

ID_BYTES: Final = 16


def holds_id(ids: bytes, ping_id: bytes) -> bool:
    """Whether the concatenated 16-byte ids `ids` contain `ping_id` (at a 16-byte boundary)."""
    at = ids.find(ping_id)
    while at != -1:
        if at % ID_BYTES == 0:
            return True
        at = ids.find(ping_id, at + 1)
    return False


def previous_day_keys(records: Sequence[PingRecord], days: Sequence[dt.date]) -> list[DayKey]:
    """The rows of the day before that retries among `records` must also be checked against."""
    keys: set[DayKey] = set()
    cutoffs: dict[dt.date, dt.datetime] = {}
    for record, day in zip(records, days, strict=True):
        if record.ping_id is None:
            continue
        cutoff = cutoffs.get(day)
        if cutoff is None:
            cutoff = cutoffs[day] = dt.datetime.combine(day, dt.time(), dt.UTC) + RETRY_WINDOW
        if record.received_at < cutoff:
            keys.add((day - dt.timedelta(days=1), record.product, record.install_id))
    return list(keys)


def new_pings(
    records: Sequence[PingRecord],
    days: Sequence[dt.date],
    stored: Mapping[DayKey, InstallDay],
    previous: Mapping[DayKey, bytes],
) -> tuple[list[PingRecord], list[dt.date]]:
    """The records (and their days) whose ping id no stored row holds; records without an id
    are always new. `records` must already be unique by ping id (rollup.unique_pings)."""
    kept: list[PingRecord] = []
    kept_days: list[dt.date] = []
    one_day = dt.timedelta(days=1)
    for record, day in zip(records, days, strict=True):
        ping_id: uuid.UUID | None = record.ping_id
        if ping_id is not None and (stored or previous):
            raw = ping_id.bytes
            row = stored.get((day, record.product, record.install_id))
            if row is not None and holds_id(row.ping_ids, raw):
                continue
            before = previous.get((day - one_day, record.product, record.install_id))
            if before is not None and holds_id(before, raw):
                continue
        kept.append(record)
        kept_days.append(day)
    return kept, kept_days
