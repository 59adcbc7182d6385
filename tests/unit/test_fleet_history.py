"""The fleet's back-dated history: past days only, in time order, continuing the live fleet."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from schemas.catalog import load_catalogs
from services.fleet.history import history
from services.fleet.model import make_fleet

CATALOGS = load_catalogs()
TODAY = dt.date(2026, 11, 20)


def records(days: int = 30, installs: int = 300) -> list:  # type: ignore[type-arg]
    fleet = make_fleet(random.Random(1), CATALOGS, installs)
    return list(history(random.Random(2), fleet, CATALOGS, today=TODAY, days=days))


def test_only_the_days_before_today_in_time_order() -> None:
    out = records()
    days = {r.received_at.date() for r in out}
    assert min(days) == TODAY - dt.timedelta(days=30)
    assert max(days) == TODAY - dt.timedelta(days=1)
    stamps = [r.received_at for r in out]
    assert stamps == sorted(stamps)
    assert all(r.received_at.tzinfo == dt.UTC for r in out)


def test_installs_are_the_live_fleets_and_end_on_their_own_version() -> None:
    fleet = make_fleet(random.Random(1), CATALOGS, 300)
    by_id = {i.install_id: i for i in fleet}
    out = records()
    assert {r.install_id for r in out if r.product != "proxmox-scripts"} <= set(by_id)
    last_day = TODAY - dt.timedelta(days=1)
    on_last = [r for r in out if r.received_at.date() == last_day]
    # one upgrade every 8 days at each install's phase: most already run today's version
    on_last = [r for r in on_last if r.install_id in by_id]
    same = sum(r.version == by_id[r.install_id].version for r in on_last)
    assert same / len(on_last) > 0.7


def test_the_fleet_grows_and_releases_are_adopted() -> None:
    out = records()
    per_day = Counter(r.received_at.date() for r in out)
    first, last = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1)
    assert per_day[last] > per_day[first] * 1.3
    pulse_first = Counter(
        r.version for r in out if r.product == "pulse" and r.received_at.date() == first
    )
    pulse_last = Counter(
        r.version for r in out if r.product == "pulse" and r.received_at.date() == last
    )
    assert pulse_first.most_common(1) != pulse_last.most_common(1)


def test_the_same_seed_gives_the_same_history() -> None:
    assert records(5, 50) == records(5, 50)


def test_some_installs_go_quiet_so_week_and_month_differ() -> None:
    out = records(40, 300)
    last = TODAY - dt.timedelta(days=1)
    week = {r.install_id for r in out if (last - r.received_at.date()).days < 7}
    month = {r.install_id for r in out if (last - r.received_at.date()).days < 28}
    assert len(month - week) >= 5


def test_each_proxmox_run_has_its_own_install_id() -> None:
    runs = [r for r in records() if r.product == "proxmox-scripts"]
    assert runs and len({r.install_id for r in runs}) == len(runs)
    assert {r.event for r in runs} == {"install"}
