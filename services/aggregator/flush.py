"""One flush: a batch's records into the store, in one transaction, exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalog import Catalogs
from schemas.record import PingRecord
from services.aggregator import activity, rollup
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
        with_ids = [(d, r.ping_id) for r, d in zip(unique, days, strict=True) if r.ping_id]
        fresh = await tx.claim_pings(with_ids) if with_ids else set()
        counted, counted_days = unique, days
        if len(fresh) < len(with_ids):  # some were retries of pings counted before
            kept = [
                (r, d)
                for r, d in zip(unique, days, strict=True)
                if r.ping_id is None or r.ping_id in fresh
            ]
            counted, counted_days = [r for r, _ in kept], [d for _, d in kept]
        merged = rollup.merge_days({}, {})
        if counted:
            states = rollup.reduce_days(counted, counted_days)
            stored = await tx.load_days(list(states))
            merged = rollup.merge_days(stored, states)
            merged.delta.events = rollup.count_events(counted, catalogs, counted_days)
        sightings = [(product, install, day) for day, product, install in merged.first_seen]
        known = await tx.load_activity(list({(p, i) for p, i, _ in sightings})) if sightings else {}
        activity_rows, activity_delta = activity.advance(known, sightings)
        written = await tx.save(merged.rows, activity_rows, merged.delta, activity_delta.rows())
    return FlushResult(len(counted), len(records) - len(counted), written)
