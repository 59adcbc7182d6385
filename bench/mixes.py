"""The fleets the aggregator bench replays, as Kafka records in receive order.

- write-heavy: about one ping per install-day, so nearly every ping is a new install_days row
  (Pulse heartbeats and proxmox-scripts outcomes);
- realistic: daily Pulse heartbeats (a startup on the first day), hourly Novu beacons whose free
  memory changes every hour, and proxmox-scripts runs (a progress report, then the outcome);
  about ten pings per install-day;
- fleet: one daily heartbeat per install for a few days, for the aggregator's memory at a size.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

from schemas.ping import UNKNOWN
from schemas.record import SCHEMA_VERSION, PingRecord

DAY_S = 86400
SCRIPTS = ("jellyfin", "plex", "docker", "homeassistant", "pihole", "vaultwarden", "nextcloud")


def first_day(days: int) -> dt.datetime:
    """Midnight UTC `days - 1` days ago: the bench's pings fall on the last `days` days."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days - 1)


def _id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128))


def pulse(rng: random.Random, install: uuid.UUID, at: dt.datetime, event: str) -> PingRecord:
    h = install.int
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=at,
        product="pulse",
        install_id=install,
        event=event,
        version=("5.0.0", "5.1.0", "5.1.1", "5.2.0")[h % 4],
        platform=("docker", "lxc", "binary")[h % 3],
        os="linux",
        arch=("amd64", "arm64")[h % 2],
        ping_id=_id(rng),
        attrs={
            "ai_enabled": h % 5 == 0,
            "deployment_method": "docker_compose",
            "version_channel": "stable",
            "auth_configured": True,
        },
        counts={"vms": h % 50, "containers": h % 200, "pve_nodes": 1 + h % 3},
    )


def proxmox(
    rng: random.Random, install: uuid.UUID, at: dt.datetime, event: str, status: str
) -> PingRecord:
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=at,
        product="proxmox-scripts",
        install_id=install,
        event=event,
        version="8.3",
        platform="pve",
        os="debian",
        arch="amd64",
        ping_id=_id(rng),
        attrs={
            "nsapp": SCRIPTS[install.int % len(SCRIPTS)],
            "type": "lxc",
            "status": status,
            "repo_source": "ProxmoxVE",
        },
        counts={"install_duration": rng.randrange(30, 2000), "exit_code": 0},
    )


def novu(rng: random.Random, install: uuid.UUID, at: dt.datetime) -> PingRecord:
    total = (2048, 4096, 8192, 16384)[install.int % 4]
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=at,
        product="novu",
        install_id=install,
        event="beacon",
        version=UNKNOWN,
        platform=UNKNOWN,
        os="linux",
        arch=UNKNOWN,
        ping_id=_id(rng),
        attrs={"os_release": "6.5.0-1017-aws"},
        counts={"free_memory_mb": rng.randrange(100, total), "total_memory_mb": total},
    )


def write_heavy(rng: random.Random, pings: int, installs: int, days: int) -> Iterator[PingRecord]:
    """`pings` pings of `installs` installs over `days` days: every install once, then at random."""
    ids = [_id(rng) for _ in range(installs)]
    start = first_day(days)
    seconds = sorted(rng.randrange(days * DAY_S) for _ in range(pings))
    for i, second in enumerate(seconds):
        install = ids[i % installs] if i < installs else rng.choice(ids)
        at = start + dt.timedelta(seconds=second)
        if install.int % 4 == 0:
            status = "success" if rng.random() < 0.9 else "failed"
            yield proxmox(rng, install, at, "install", status)
        else:
            yield pulse(rng, install, at, "heartbeat")


REALISTIC_PINGS_PER_INSTALL_DAY = 0.4 * 1 + 0.4 * 24 + 0.2 * 2
"""Expected pings per install and day of the realistic mix (Pulse, Novu, proxmox-scripts)."""


def realistic(rng: random.Random, pings: int, days: int) -> Iterator[PingRecord]:
    """About `pings` pings over `days` days from the realistic mix (see the module's text)."""
    installs = max(10, round(pings / (days * REALISTIC_PINGS_PER_INSTALL_DAY)))
    start = first_day(days)
    # (second since start, tie-breaker, kind, install, status)
    schedule: list[tuple[int, int, str, uuid.UUID, str]] = []
    n = 0
    for i in range(installs):
        install = _id(rng)
        offset = rng.randrange(DAY_S)
        kind = ("pulse", "pulse", "novu", "novu", "proxmox")[i % 5]
        for day in range(days):
            base = day * DAY_S
            if kind == "pulse":
                schedule.append((base + offset, n, "heartbeat", install, ""))
                if day == 0:
                    schedule.append((base + offset // 2, n + 1, "startup", install, ""))
            elif kind == "novu":
                for hour in range(24):
                    schedule.append(
                        (base + (offset + hour * 3600) % DAY_S, n, "beacon", install, "")
                    )
                    n += 1
            else:
                # A proxmox-scripts "install" is one script run (random_id is per run): a
                # progress report when it starts, its outcome when it ends.
                run = _id(rng)
                began = base + rng.randrange(DAY_S - 3000)
                outcome = "success" if rng.random() < 0.85 else rng.choice(("failed", "aborted"))
                schedule.append((began, n, "progress", run, "installing"))
                schedule.append((began + rng.randrange(30, 2000), n + 1, "install", run, outcome))
            n += 2
    schedule.sort()
    for second, _, event, install, status in schedule:
        at = start + dt.timedelta(seconds=second)
        if event == "beacon":
            yield novu(rng, install, at)
        elif status:
            yield proxmox(rng, install, at, event, status)
        else:
            yield pulse(rng, install, at, event)


def fleet(rng: random.Random, installs: int, days: int) -> Iterator[PingRecord]:
    """One heartbeat per install and day, at the install's own time of day."""
    ids = [_id(rng) for _ in range(installs)]
    offsets = sorted((rng.randrange(DAY_S), i) for i in range(installs))
    start = first_day(days)
    for day in range(days):
        for offset, i in offsets:
            yield pulse(
                rng, ids[i], start + dt.timedelta(seconds=day * DAY_S + offset), "heartbeat"
            )
