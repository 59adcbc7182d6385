"""A known fleet written straight into the rollup and per-install tables (as the aggregator
would), for tests of the read side. Every rollup row is computed from the fleet's installs."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

BUCKETS = 41


@dataclass
class Install:
    product: str
    install_id: uuid.UUID
    days: set[dt.date]
    version: str
    platform: str
    os: str
    arch: str
    attrs: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def install(product: str, days: set[dt.date], **fields: object) -> Install:
    base: dict[str, object] = {
        "version": "1.0",
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
    }
    base.update(fields)
    return Install(product, uuid.uuid4(), days, **base)  # type: ignore[arg-type]


def simulated(products: dict[str, int], today: dt.date, days: int, seed: int = 7) -> list[Install]:
    """`n` installs per product over `days` days: arrivals, churn, upgrades to newer releases,
    and for proxmox-scripts runs with outcomes."""
    rng = random.Random(seed)
    start = today - dt.timedelta(days=days - 1)
    out: list[Install] = []
    for product, n in products.items():
        for _ in range(n):
            first = start + dt.timedelta(days=rng.randrange(days))
            life = rng.randrange(1, days + 1)
            seen = {
                first + dt.timedelta(days=i)
                for i in range(life)
                if first + dt.timedelta(days=i) <= today and (i == 0 or rng.random() < 0.8)
            }
            age = (today - first).days
            version = "2.0" if age < days // 3 else rng.choice(["1.0", "1.1", "2.0"])
            inst = install(
                product,
                seen,
                version=version,
                platform=rng.choice(["docker", "docker", "binary", "kubernetes"]),
                os=rng.choice(["linux", "linux", "linux", "windows"]),
                arch=rng.choice(["amd64", "amd64", "arm64"]),
            )
            if product == "proxmox-scripts":
                app = rng.choice(["jellyfin", "docker", "homeassistant", "pihole", "nginx"])
                failed = rng.random() < (0.35 if app == "nginx" else 0.08)
                status = "failed" if failed else "success"
                dims = {"nsapp": app, "type": "lxc", "status": status}
                if failed:
                    dims["error_category"] = rng.choice(["network", "storage", "dependency"])
                inst.attrs = {"nsapp": app, "type": "lxc", "status": status}
                inst.events = [("install", dims)]
                inst.counts = {
                    "disk_size": rng.choice([2, 4, 8, 8, 16, 32]),
                    "core_count": rng.choice([1, 2, 2, 4]),
                }
            elif product == "pulse":
                inst.attrs = {
                    "version_channel": rng.choice(["stable", "stable", "rc"]),
                    "ai_enabled": rng.choice(["true", "false"]),
                }
                inst.counts = {"configured_connections": rng.choice([1, 1, 2, 3, 5, 9, 20])}
                inst.events = [
                    (
                        "heartbeat",
                        {
                            "version_channel": inst.attrs["version_channel"],
                            "ai_enabled": inst.attrs["ai_enabled"],
                        },
                    )
                ]
            out.append(inst)
    return out


def _mask_days(inst: Install, day: dt.date, window: int) -> bool:
    return any(day - dt.timedelta(days=i) in inst.days for i in range(window))


async def write(dsn: str, installs: list[Install], today: dt.date) -> None:
    """Rollups, install_days and install_activity for `installs`; partitions created first."""
    all_days = sorted({d for i in installs for d in i.days})
    if not all_days:
        return
    first_day = all_days[0]
    conn = await asyncpg.connect(dsn)
    try:
        for table in (
            "install_days", "rollup_active_installs", "rollup_activity", "rollup_attr_values",
            "rollup_counts", "rollup_events",
        ):  # fmt: skip
            await conn.execute(
                "SELECT census_ensure_day_partitions($1, $2, $3)", table, first_day, today
            )
        activity = []
        active: dict[tuple[object, ...], int] = defaultdict(int)
        attr_values: dict[tuple[object, ...], int] = defaultdict(int)
        counts: dict[tuple[dt.date, str, str], list[int]] = defaultdict(list)
        events: dict[tuple[object, ...], int] = defaultdict(int)
        by_product: dict[str, list[Install]] = defaultdict(list)
        for inst in installs:
            by_product[inst.product].append(inst)
        day = first_day
        while day <= today:
            for product, group in by_product.items():
                dau = sum(1 for i in group if day in i.days)
                wau = sum(1 for i in group if _mask_days(i, day, 7))
                mau = sum(1 for i in group if _mask_days(i, day, 28))
                new = sum(1 for i in group if i.days and min(i.days) == day)
                if dau or wau or mau:
                    activity.append((day, product, dau, wau, mau, new))
            day += dt.timedelta(days=1)
        install_days = []
        for inst in installs:
            for d in inst.days:
                active[(d, inst.product, inst.version, inst.platform, inst.os, inst.arch)] += 1
                for attr, text in inst.attrs.items():
                    attr_values[(d, inst.product, attr, text)] += 1
                for count_key, number in inst.counts.items():
                    counts[(d, inst.product, count_key)].append(number)
                for event, dims in inst.events:
                    events[(d, inst.product, event, json.dumps(dims, sort_keys=True))] += 1
                ts = dt.datetime.combine(d, dt.time(12), dt.UTC)
                install_days.append(
                    (d, inst.product, inst.install_id, inst.version, inst.platform, inst.os,
                     inst.arch, json.dumps(inst.attrs), json.dumps(inst.counts), 1, ts, ts)
                )  # fmt: skip
        await conn.executemany(
            "INSERT INTO rollup_activity (day, product, dau, wau, mau, new_installs) VALUES ($1, $2, $3, $4, $5, $6)",
            activity,
        )
        await conn.executemany(
            "INSERT INTO rollup_active_installs VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            [(*key, n) for key, n in active.items()],
        )
        await conn.executemany(
            "INSERT INTO rollup_attr_values VALUES ($1, $2, $3, $4, $5)",
            [(*key, n) for key, n in attr_values.items()],
        )
        rows = []
        for where, values in counts.items():
            hist = [0] * BUCKETS
            for v in values:
                hist[v.bit_length()] += 1
            rows.append((*where, len(values), sum(values), min(values), max(values), hist))
        await conn.executemany(
            "INSERT INTO rollup_counts (day, product, count_key, installs, sum, min, max, histogram) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            rows,
        )
        await conn.executemany(
            "INSERT INTO rollup_events VALUES ($1, $2, $3, $4::jsonb, $5)",
            [(*key, n) for key, n in events.items()],
        )
        await conn.executemany(
            "INSERT INTO install_days (day, product, install_id, version, platform, os, arch, attrs, counts, pings, first_ping, last_ping) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12)",
            install_days,
        )
        await conn.executemany(
            "INSERT INTO install_activity VALUES ($1, $2, $3, $4, 1)",
            [(i.product, i.install_id, min(i.days), max(i.days)) for i in installs if i.days],
        )
        await conn.execute(
            "INSERT INTO consumer_offsets VALUES ('test', 'census.pings.v1', 0, 1, now())"
        )
    finally:
        await conn.close()
