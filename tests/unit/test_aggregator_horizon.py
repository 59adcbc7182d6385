"""Records past the horizons (services.aggregator.horizon): never a partition retention dropped."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from services.aggregator.flush import write_flush
from services.aggregator.horizon import first_kept_day, split
from services.aggregator.store import OffsetClaim
from services.common.settings import HorizonSettings
from services.retention import plan
from tests.support.aggregator import BASE, FakeRollupStore, ping

CATALOGS = load_catalogs()
HORIZONS = HorizonSettings(install_days=90, rollup_days=400)
NOW = BASE + dt.timedelta(hours=12)
TODAY = NOW.date()


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)), st.integers(1, 2000))
def test_the_first_kept_day_is_the_retention_workers(today: dt.date, days: int) -> None:
    assert first_kept_day(today, days) == plan.first_kept_day(today, days)


async def test_a_record_before_the_install_horizon_creates_no_install_day_and_counts_in_events() -> (
    None
):
    install = uuid.uuid4()
    first_kept = first_kept_day(TODAY, HORIZONS.install_days)
    old = ping(install, BASE - dt.timedelta(days=90), event="heartbeat")  # the day before it
    kept = ping(install, dt.datetime.combine(first_kept, dt.time(), dt.UTC))
    ancient = ping(install, BASE - dt.timedelta(days=400))  # past the rollup horizon too
    store = FakeRollupStore()
    result = await write_flush(
        store,
        CATALOGS,
        group="g",
        topic="t",
        claims=[OffsetClaim(0, None, 3)],
        records=[old, kept, ancient],
        horizons=HORIZONS,
        now=lambda: NOW,
    )
    old_day = old.received_at.date()
    assert (result.counted, result.events_only, result.too_old) == (1, 1, 1)
    assert store.ensured == {first_kept}
    assert store.ensured_events_only == {old_day}
    assert {k[0] for k in store.tables.days} == {first_kept}
    assert {k[0] for k in store.tables.active} == {first_kept}
    assert {k[0] for k, v in store.tables.rollup_activity.items() if any(v)} >= {first_kept}
    assert old_day not in {k[0] for k in store.tables.rollup_activity}
    events = {k[0]: v for k, v in store.tables.events.items() if v}
    assert events == {first_kept: 1, old_day: 1}
    assert store.tables.offsets == {("g", "t", 0): 3}


def test_a_rollup_horizon_shorter_than_the_install_one_bounds_both() -> None:
    install = uuid.uuid4()
    records = [ping(install, BASE - dt.timedelta(days=d)) for d in (0, 10, 20)]
    days = [r.received_at.date() for r in records]
    parts = split(records, days, HorizonSettings(install_days=90, rollup_days=15), TODAY)
    assert (parts.days, parts.events_only_days, parts.too_old) == (days[:2], [], 1)
