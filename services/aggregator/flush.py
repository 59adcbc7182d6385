"""One flush: a batch's records into the store, in one transaction, exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from schemas.catalog import Catalogs
from schemas.record import PingRecord
from services.aggregator import activity, dedup, horizon, rollup
from services.aggregator.store import OffsetClaim, RollupStore
from services.common.settings import HorizonSettings


@dataclass(frozen=True, slots=True)
class FlushResult:
    counted: int
    """Records counted in the per-install figures (and their events)."""
    duplicates: int
    """Retries of a ping already counted (dedup)."""
    rows_written: int
    over_cap: int = 0
    """Pings past dedup.MAX_PINGS_PER_DAY of their install and day: counted nowhere."""
    events_only: int = 0
    """Records past the per-install horizon, counted in rollup_events only."""
    too_old: int = 0
    """Records past every horizon: counted nowhere."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def write_flush(
    store: RollupStore,
    catalogs: Catalogs,
    *,
    group: str,
    topic: str,
    claims: list[OffsetClaim],
    records: list[PingRecord],
    horizons: HorizonSettings,
    now: Callable[[], dt.datetime] = _utc_now,
    turn: asyncio.Lock | None = None,
) -> FlushResult:
    """Count `records` and move the offsets of `claims`, all or nothing. `now` says which days
    the horizons still keep; nothing is written to a day past them.

    `turn` is shared by the flushes of one process that run at once (lanes.py): each holds it
    from its first rollup write to its commit, so that their upserts of the same rollup rows
    never wait on each other's row locks (nor deadlock, nor race to create one row); the rest
    (fence, loads, the counting, the per-install rows, each lane's own) runs side by side."""
    days = [rollup.utc_day(r.received_at) for r in records]
    parts = horizon.split(records, days, horizons, rollup.utc_day(now()))
    if parts.days or parts.events_only_days:
        await store.ensure_days(set(parts.days), events_only=set(parts.events_only_days))
    held: asyncio.Lock | None = None
    try:
        async with store.transaction() as tx:
            await tx.fence(group, topic, claims)
            merged = rollup.merge_days({}, {})
            admitted = dedup.Admitted()
            if parts.records:
                keys = list(
                    {
                        (d, r.product, r.install_id)
                        for r, d in zip(parts.records, parts.days, strict=True)
                    }
                )
                stored = await tx.load_days(keys)
                earlier = dedup.previous_day_keys(parts.records, parts.days)
                previous = await tx.load_ping_ids(earlier) if earlier else {}
                admitted = dedup.admit(parts.records, parts.days, stored, previous)
                if admitted.records:
                    states = rollup.reduce_days(admitted.records, admitted.days)
                    merged = rollup.merge_days(stored, states)
                dedup.remember(merged.rows, admitted)
            events = admitted.records + parts.events_only
            if events:
                merged.delta.events = rollup.count_events(
                    events, catalogs, admitted.days + parts.events_only_days
                )
            sightings = [(product, install, day) for day, product, install in merged.first_seen]
            known = (
                await tx.load_activity(list({(p, i) for p, i, _ in sightings})) if sightings else {}
            )
            activity_rows, activity_delta = activity.advance(known, sightings)

            async def take_turn() -> None:
                nonlocal held
                assert turn is not None
                await turn.acquire()
                held = turn

            written = await tx.save(
                merged.rows,
                activity_rows,
                merged.delta,
                activity_delta.rows(),
                before_rollups=None if turn is None else take_turn,
            )
    finally:
        if held is not None:
            held.release()
    return FlushResult(
        counted=len(admitted.records),
        duplicates=admitted.duplicates,
        rows_written=written,
        over_cap=admitted.over_cap,
        events_only=len(parts.events_only),
        too_old=parts.too_old,
    )
