"""One flush: a batch's records into the store, in one transaction, exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalog import Catalogs
from schemas.record import PingRecord
from services.aggregator import activity, dedup, rollup
from services.aggregator.store import OffsetClaim, RollupStore


@dataclass(frozen=True, slots=True)
class FlushResult:
    counted: int
    """Records counted (retries of an already counted ping_id are not)."""
    duplicates: int
    rows_written: int


async def write_flush(
    store: RollupStore,
    catalogs: Catalogs,
    *,
    group: str,
    topic: str,
    claims: list[OffsetClaim],
    records: list[PingRecord],
) -> FlushResult:
    """Count `records` and move the offsets of `claims`, all or nothing."""
    unique = rollup.unique_pings(records)
    days = [rollup.utc_day(r.received_at) for r in unique]
    if days:
        await store.ensure_days(set(days))
    async with store.transaction() as tx:
        await tx.fence(group, topic, claims)
        merged = rollup.merge_days({}, {})
        counted: list[PingRecord] = []
        if unique:
            keys = list({(d, r.product, r.install_id) for r, d in zip(unique, days, strict=True)})
            stored = await tx.load_days(keys)
            earlier = dedup.previous_day_keys(unique, days)
            previous = await tx.load_ping_ids(earlier) if earlier else {}
            counted, counted_days = dedup.new_pings(unique, days, stored, previous)
            if counted:
                states = rollup.reduce_days(counted, counted_days)
                merged = rollup.merge_days(stored, states)
                merged.delta.events = rollup.count_events(counted, catalogs, counted_days)
        sightings = [(product, install, day) for day, product, install in merged.first_seen]
        known = await tx.load_activity(list({(p, i) for p, i, _ in sightings})) if sightings else {}
        activity_rows, activity_delta = activity.advance(known, sightings)
        written = await tx.save(merged.rows, activity_rows, merged.delta, activity_delta.rows())
    return FlushResult(len(counted), len(records) - len(counted), written)
