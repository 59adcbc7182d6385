"""Retried pings against the ids stored in install days (services.aggregator.dedup), pure."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.aggregator.dedup import RETRY_WINDOW, holds_id, new_pings, previous_day_keys
from services.aggregator.rollup import InstallDay, utc_day
from tests.support.aggregator import BASE, ping

DAY = dt.timedelta(days=1)


def stored_row(*ping_ids: uuid.UUID) -> InstallDay:
    return InstallDay(
        "5.0.0", "docker", "linux", "amd64", {}, {}, len(ping_ids), BASE, BASE,
        b"".join(p.bytes for p in ping_ids),
    )  # fmt: skip


@given(
    st.lists(st.binary(min_size=16, max_size=16), max_size=20), st.binary(min_size=16, max_size=16)
)
def test_holds_id_only_at_id_boundaries(ids: list[bytes], probe: bytes) -> None:
    assert holds_id(b"".join(ids), probe) == (probe in ids)


def test_an_id_straddling_two_stored_ids_is_not_a_match() -> None:
    a, b = bytes(range(16)), bytes(range(16, 32))
    assert not holds_id(a + b, a[8:] + b[:8])


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
    kept, kept_days = new_pings(records, days, stored, {})
    assert kept == records[1:]
    assert kept_days == days[1:]


def test_the_previous_day_is_checked_only_inside_the_retry_window() -> None:
    install, ping_id = uuid.uuid4(), uuid.uuid4()
    early = ping(install, BASE + RETRY_WINDOW - dt.timedelta(seconds=1), ping_id=ping_id)
    late = ping(install, BASE + RETRY_WINDOW, ping_id=ping_id)
    no_id = ping(install, BASE)
    day = BASE.date()
    assert previous_day_keys([early, late, no_id], [day] * 3) == [(day - DAY, "pulse", install)]
    previous = {(day - DAY, "pulse", install): ping_id.bytes}
    assert new_pings([early], [day], {}, previous) == ([], [])
    assert new_pings([late], [day], {}, {}) == ([late], [day])
