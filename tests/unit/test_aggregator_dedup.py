"""Retried pings and the per-day cap against the ids stored in install days (dedup), pure, and
through flushes into the fake store."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.record import PingRecord
from services.aggregator.dedup import (
    CLIENT_IDS_KEPT,
    DERIVED_IDS_KEPT,
    DERIVED_WINDOW,
    MAX_PINGS_PER_DAY,
    RETRY_WINDOW,
    SIGHTING_BYTES,
    admit,
    holds_id,
    merge_sightings,
    previous_day_keys,
    sighting,
)
from services.aggregator.flush import FlushResult, write_flush
from services.aggregator.rollup import InstallDay, utc_day
from services.aggregator.store import OffsetClaim
from services.common.settings import HorizonSettings
from tests.support.aggregator import BASE, FakeRollupStore, ping, without_client_id

DAY = dt.timedelta(days=1)
CATALOGS = load_catalogs()
NOON = BASE + dt.timedelta(hours=12)


def stored_row(*ping_ids: uuid.UUID) -> InstallDay:
    return InstallDay(
        "5.0.0", "docker", "linux", "amd64", {}, {}, len(ping_ids), BASE, BASE,
        b"".join(p.bytes for p in ping_ids),
    )  # fmt: skip


class Feeder:
    """Flushes into one fake store, one partition, offsets following on."""

    def __init__(self) -> None:
        self.store = FakeRollupStore()
        self.offset: int | None = None

    async def flush(self, records: list[PingRecord]) -> FlushResult:
        start = self.offset or 0
        claim = OffsetClaim(0, self.offset, start + len(records))
        result = await write_flush(
            self.store,
            CATALOGS,
            group="g",
            topic="t",
            claims=[claim],
            records=records,
            horizons=HorizonSettings(),
        )
        self.offset = claim.next_offset
        return result

    def pings(self) -> int:
        return sum(v[1] for v in self.store.tables.active.values())

    def events(self) -> int:
        return sum(self.store.tables.events.values())


@given(
    st.lists(st.binary(min_size=16, max_size=16), max_size=20), st.binary(min_size=16, max_size=16)
)
def test_holds_id_only_at_id_boundaries(ids: list[bytes], probe: bytes) -> None:
    assert holds_id(b"".join(ids), probe) == (probe in ids)


def test_an_id_straddling_two_stored_ids_is_not_a_match() -> None:
    a, b = bytes(range(16)), bytes(range(16, 32))
    assert not holds_id(a + b, a[8:] + b[:8])


@given(
    st.dictionaries(st.binary(min_size=16, max_size=16), st.integers(0, 86399), max_size=20),
    st.binary(min_size=16, max_size=16),
)
def test_a_sighting_is_found_only_at_entry_boundaries(
    entries: dict[bytes, int], probe: bytes
) -> None:
    packed = b"".join(raw + s.to_bytes(4, "big") for raw, s in entries.items())
    assert sighting(packed, probe) == entries.get(probe)


def test_retries_of_stored_pings_are_dropped_others_kept() -> None:
    install, counted, fresh = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = BASE + dt.timedelta(hours=5)
    records = [
        ping(install, at, ping_id=counted),
        ping(install, at, ping_id=fresh),
        ping(install, at),
    ]
    days = [utc_day(r.received_at) for r in records]
    stored = {(days[0], "pulse", install): stored_row(counted)}
    admitted = admit(records, days, stored, {})
    assert admitted.records == records[1:]
    assert admitted.days == days[1:]
    assert admitted.duplicates == 1


def test_the_previous_day_is_checked_only_inside_the_retry_window() -> None:
    install, ping_id = uuid.uuid4(), uuid.uuid4()
    early = ping(install, BASE + RETRY_WINDOW - dt.timedelta(seconds=1), ping_id=ping_id)
    late = ping(install, BASE + RETRY_WINDOW, ping_id=ping_id)
    no_id = ping(install, BASE)
    day = BASE.date()
    assert previous_day_keys([early, late, no_id], [day] * 3) == [(day - DAY, "pulse", install)]
    previous = {(day - DAY, "pulse", install): (ping_id.bytes, b"")}
    assert admit([early], [day], {}, previous).records == []
    assert admit([late], [day], {}, previous).records == [late]


def test_a_derived_id_looks_at_the_previous_day_only_inside_its_window() -> None:
    install = uuid.uuid4()
    inside = without_client_id(ping(install, BASE + DERIVED_WINDOW - dt.timedelta(seconds=1)))
    outside = without_client_id(ping(install, BASE + DERIVED_WINDOW))
    day = BASE.date()
    assert previous_day_keys([inside], [day]) == [(day - DAY, "pulse", install)]
    assert previous_day_keys([outside], [day]) == []


# --- retries without a ping_id (C) ---------------------------------------------------------


def again(record: PingRecord, after: dt.timedelta) -> PingRecord:
    """The same content received `after` later: ingest derives the same id (no receive time)."""
    return msgspec.structs.replace(record, received_at=record.received_at + after)


async def test_a_retry_without_ping_id_is_counted_once_in_the_same_or_a_later_flush() -> None:
    first = without_client_id(ping(uuid.uuid4(), NOON, counts={"vms": 3}))
    retry = again(first, dt.timedelta(seconds=20))
    together, apart = Feeder(), Feeder()
    result = await together.flush([first, retry])
    assert (result.counted, result.duplicates) == (1, 1)
    assert (await apart.flush([first])).counted == 1
    result = await apart.flush([retry])
    assert (result.counted, result.duplicates) == (0, 1)
    for feeder in (together, apart):
        assert (feeder.pings(), feeder.events()) == (1, 1)


async def test_the_late_delivered_original_after_its_retry_is_counted_once() -> None:
    # A 503's record reached Kafka after the client's retry: consumed second, received first.
    original = without_client_id(ping(uuid.uuid4(), NOON))
    retry = again(original, dt.timedelta(seconds=30))
    feeder = Feeder()
    await feeder.flush([retry])
    result = await feeder.flush([original])
    assert (result.counted, result.duplicates) == (0, 1)


async def test_identical_pings_further_apart_than_the_window_both_count() -> None:
    first = without_client_id(ping(uuid.uuid4(), NOON))
    later = again(first, DERIVED_WINDOW + dt.timedelta(seconds=1))
    feeder = Feeder()
    await feeder.flush([first])
    assert (await feeder.flush([later])).counted == 1
    assert (feeder.pings(), feeder.events()) == (2, 2)


async def test_a_chain_of_retries_is_followed_past_the_window_of_the_first() -> None:
    first = without_client_id(ping(uuid.uuid4(), NOON))
    step = DERIVED_WINDOW - dt.timedelta(minutes=1)
    chain = [again(first, step * i) for i in range(1, 5)]  # each within the window of the last
    feeder = Feeder()
    await feeder.flush([first])
    for retry in chain:
        assert (await feeder.flush([retry])).duplicates == 1
    assert feeder.pings() == 1


async def test_a_retry_across_midnight_is_counted_once() -> None:
    before = without_client_id(ping(uuid.uuid4(), BASE - dt.timedelta(minutes=2)))
    after = again(before, dt.timedelta(minutes=4))
    feeder = Feeder()
    await feeder.flush([before])
    result = await feeder.flush([after])
    assert (result.counted, result.duplicates) == (0, 1)
    assert {k[0] for k in feeder.store.tables.days} == {before.received_at.date()}


async def test_a_client_id_and_a_derived_id_never_match_each_other() -> None:
    derived = without_client_id(ping(uuid.uuid4(), NOON))
    client = msgspec.structs.replace(derived, id_derived=False)  # a client sent that very id
    feeder = Feeder()
    await feeder.flush([derived])
    assert (await feeder.flush([again(client, dt.timedelta(hours=2))])).counted == 1


# --- bounds (B) -------------------------------------------------------------------------------


async def test_an_install_flooding_a_day_keeps_a_bounded_row_and_moves_figures_up_to_the_cap() -> (
    None
):
    install = uuid.uuid4()
    client = [
        ping(install, BASE + dt.timedelta(seconds=i), ping_id=uuid.uuid4(), counts={"vms": i})
        for i in range(MAX_PINGS_PER_DAY)
    ]
    derived = [
        without_client_id(ping(install, BASE + dt.timedelta(seconds=i), counts={"vms": i}))
        for i in range(MAX_PINGS_PER_DAY, 10_000)
    ]
    feeder = Feeder()
    over = 0
    records = client + derived
    for lo in range(0, len(records), 1000):
        over += (await feeder.flush(records[lo : lo + 1000])).over_cap
    (row,) = feeder.store.tables.days.values()
    assert row.pings == MAX_PINGS_PER_DAY
    assert over == 10_000 - MAX_PINGS_PER_DAY
    assert (feeder.pings(), feeder.events()) == (MAX_PINGS_PER_DAY, MAX_PINGS_PER_DAY)
    assert row.counts == {"vms": MAX_PINGS_PER_DAY - 1}  # later pings moved no figure
    assert len(row.ping_ids) == CLIENT_IDS_KEPT * 16
    assert row.ping_ids == b"".join(r.ping_id.bytes for r in client[-CLIENT_IDS_KEPT:] if r.ping_id)


async def test_the_cost_of_the_bound_a_retry_after_many_later_pings_counts_again() -> None:
    install = uuid.uuid4()
    first = ping(install, NOON, ping_id=uuid.uuid4())
    others = [
        ping(install, NOON + dt.timedelta(seconds=i + 1), ping_id=uuid.uuid4())
        for i in range(CLIENT_IDS_KEPT)
    ]
    feeder = Feeder()
    await feeder.flush([first, *others[:-1]])
    assert (await feeder.flush([again(first, dt.timedelta(minutes=5))])).duplicates == 1
    await feeder.flush([others[-1]])  # the 65th: the first one's id leaves the row
    assert (await feeder.flush([again(first, dt.timedelta(minutes=6))])).counted == 1


def test_sightings_keep_the_latest_per_id_inside_the_window_and_at_most_the_bound() -> None:
    day = BASE.date()
    midnight = int(BASE.timestamp())
    last_ping = NOON
    noon = midnight + 12 * 3600
    old = {bytes([1]) * 16: noon - int(DERIVED_WINDOW.total_seconds()) - 1}
    fresh = {bytes([i]) * 16: noon - i for i in range(2, 2 + DERIVED_IDS_KEPT + 5)}
    entries = merge_sightings(b"", {**old, **fresh}, day, last_ping)
    assert len(entries) == DERIVED_IDS_KEPT * SIGHTING_BYTES
    assert sighting(entries, bytes([1]) * 16) is None  # older than the window: dropped
    assert sighting(entries, bytes([2]) * 16) == 12 * 3600 - 2
    again_later = merge_sightings(entries, {bytes([2]) * 16: noon + 30}, day, last_ping)
    assert sighting(again_later, bytes([2]) * 16) == 12 * 3600 + 30
    not_older = merge_sightings(again_later, {bytes([2]) * 16: noon - 100}, day, last_ping)
    assert sighting(not_older, bytes([2]) * 16) == 12 * 3600 + 30
