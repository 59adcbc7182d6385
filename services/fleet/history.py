"""Back-dated history of the simulated fleet: the Kafka records its installs would have caused
over the past days. Pure: a seeded Random in, PingRecords in time order out.

Only the simulator back-dates: it writes `received_at` into records it produces to Kafka
itself, as ingest would have stamped them on those days. Ingest never takes a client's clock.
The installs are the fleet's own, so the live run continues their history: each runs its own
version on the last day and older releases before (one upgrade every UPGRADE_DAYS, at its own
phase, so releases are adopted gradually); some arrive during the window, so the fleet grows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Iterator

from schemas.catalog import Catalogs
from schemas.record import SCHEMA_VERSION, PingRecord
from services.fleet.model import Install, make_ping, versions_for

ONE_ID_PER_RUN = frozenset({"proxmox-scripts"})
"""Products whose clients report each run under a fresh install id (the Proxmox scripts'
random_id is made per session): their history has one record per id, as the real ones do."""
UPGRADE_DAYS = 8
ACTIVE_SHARE = 0.9
"""The share of days an install pings on."""
PRESENT_SHARE = 0.5
"""The share of installs that already ran when the history starts; the others arrive in it."""
AWAY_SHARE = 0.15
"""The share of installs that go quiet for a while (7 to 25 days) and come back, so 7-day and
28-day active counts differ."""


@dataclasses.dataclass(frozen=True)
class Life:
    """When an install arrived, how its version lags the one it runs today, and when (if ever)
    it was away."""

    arrival: dt.date
    phase: int
    away_from: dt.date | None = None
    away_to: dt.date | None = None

    def active(self, day: dt.date) -> bool:
        if day < self.arrival:
            return False
        return not (self.away_from and self.away_to and self.away_from <= day < self.away_to)


def version_on(install: Install, life: Life, day: dt.date, today: dt.date) -> str:
    """The release `install` ran on `day`: its own today, one older per UPGRADE_DAYS back."""
    versions = versions_for(install.product)
    own = versions.index(install.version) if install.version in versions else 0
    behind = ((today - day).days + life.phase) // UPGRADE_DAYS
    return versions[min(own + behind, len(versions) - 1)]


def lives(rng: random.Random, fleet: list[Install], first: dt.date, days: int) -> list[Life]:
    out = []
    for _ in fleet:
        arrival = (
            first if rng.random() < PRESENT_SHARE else first + dt.timedelta(rng.randrange(days))
        )
        life = Life(arrival, rng.randrange(UPGRADE_DAYS))
        if rng.random() < AWAY_SHARE:
            start = arrival + dt.timedelta(days=1 + rng.randrange(days))
            life = dataclasses.replace(
                life, away_from=start, away_to=start + dt.timedelta(days=rng.randint(7, 25))
            )
        out.append(life)
    return out


def history(
    rng: random.Random, fleet: list[Install], catalogs: Catalogs, *, today: dt.date, days: int
) -> Iterator[PingRecord]:
    """The records of the `days` days before `today` (today itself is the live run's), day by
    day, each day's in time order."""
    first = today - dt.timedelta(days=days)
    plan = lives(rng, fleet, first, days)
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        records = []
        for install, life in zip(fleet, plan, strict=True):
            if not life.active(day) or (day > life.arrival and rng.random() > ACTIVE_SHARE):
                continue
            catalog = catalogs.get(install.product)
            assert catalog is not None
            state = dataclasses.replace(install, version=version_on(install, life, day, today))
            ping = make_ping(rng, state, catalog, first=day == life.arrival)
            received = midnight + dt.timedelta(seconds=rng.uniform(0, 86_399))
            records.append(
                PingRecord(
                    schema=SCHEMA_VERSION,
                    received_at=received,
                    product=ping["product"],
                    install_id=(
                        uuid.UUID(int=rng.getrandbits(128), version=4)
                        if install.product in ONE_ID_PER_RUN
                        else uuid.UUID(ping["install_id"])
                    ),
                    event=ping["event"],
                    version=ping["version"],
                    platform=ping["platform"],
                    os=ping["os"],
                    arch=ping["arch"],
                    ping_id=uuid.UUID(ping["ping_id"]),
                    attrs=ping["attrs"],
                    counts=ping["counts"],
                )
            )
        records.sort(key=lambda r: r.received_at)
        yield from records
