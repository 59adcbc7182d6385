"""The simulated installs and the pings they send. Pure: a seeded Random in, JSON-ready dicts out.

An install's state (version, platform, attrs, counts) is fixed for the run, so the analyst views
the e2e tests compare against the ground truth do not depend on the order pings arrive in; only
the outcome of each proxmox-scripts run varies from ping to ping.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.catalog import AttrSpec, Catalog, Catalogs, CountSpec, matches

PRODUCT_SHARES: Final = {
    "pulse": 0.35,
    "proxmox-scripts": 0.25,
    "flowfuse": 0.15,
    "novu": 0.15,
    "maestrohub": 0.10,
}
RESERVED: Final = frozenset({"other", "unknown"})
SCRIPTS: Final = (
    "homeassistant", "pihole", "jellyfin", "nextcloud", "docker", "adguard", "plex",
    "vaultwarden", "immich", "paperless-ngx", "nginxproxymanager", "uptimekuma",
)  # fmt: skip
FAILURE_SHARE: Final = 0.08
ABORT_SHARE: Final = 0.03
# Events that are outcomes or one-offs rather than periodic activity.
ONE_OFF_EVENTS: Final = frozenset({"startup", "install", "progress", "first-user"})


def weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def from_list(rng: random.Random, values: list[str]) -> str:
    """A value of a catalog's closed list (never a reserved one), the first ones most likely."""
    real = [v for v in values if v not in RESERVED]
    if not real:
        return "unknown"  # the product's clients do not send this field
    return rng.choices(real, weights=[1 / (i + 1) ** 2 for i in range(len(real))])[0]


def skewed_index(rng: random.Random, n: int, skew: float = 1.3) -> int:
    """Index 0 is most likely (a Zipf-like skew): recent versions dominate real fleets."""
    weights = [1.0 / (i + 1) ** skew for i in range(n)]
    return rng.choices(range(n), weights=weights)[0]


def versions_for(product: str) -> list[str]:
    """Newest first: ten recent releases of a plausible version line."""
    major = 2 + sum(map(ord, product)) % 4
    return [f"{major}.{9 - i // 3}.{2 - i % 3}" for i in range(10)]


@dataclass(frozen=True)
class Install:
    """One simulated installation: what it is and how it is configured."""

    product: str
    install_id: uuid.UUID
    version: str
    platform: str
    os: str
    arch: str
    attrs: dict[str, str | bool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _attr_value(rng: random.Random, name: str, spec: AttrSpec) -> str | bool:
    if spec.type == "bool":
        share = 0.15 + (sum(map(ord, name)) % 60) / 100.0  # each flag its own adoption share
        return rng.random() < share
    if spec.type == "enum":
        return spec.values[skewed_index(rng, len(spec.values))]
    if name == "nsapp":
        return SCRIPTS[skewed_index(rng, len(SCRIPTS), 1.0)]
    example = str(spec.example)
    variant = f"{example[:56]}-v{rng.randint(1, 3)}"
    return variant if rng.random() >= 0.7 and matches(spec.pattern, variant) else example


def _count_value(rng: random.Random, spec: CountSpec) -> int:
    center = max(1.0, float(spec.example))
    value = int(rng.lognormvariate(math.log(center), 0.9)) if rng.random() > 0.1 else 0
    return min(value, spec.max)


def make_install(rng: random.Random, catalog: Catalog) -> Install:
    versions = versions_for(catalog.product)
    attrs = {
        name: _attr_value(rng, name, spec)
        for name, spec in catalog.attrs.items()
        if name not in {"status", "error_category"} and rng.random() < 0.9
    }
    counts = {
        name: _count_value(rng, spec)
        for name, spec in catalog.counts.items()
        if name != "exit_code" and rng.random() < 0.9
    }
    return Install(
        product=catalog.product,
        install_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        version=versions[skewed_index(rng, len(versions))],
        platform=from_list(rng, catalog.platforms),
        os=from_list(rng, catalog.oses),
        arch=from_list(rng, catalog.arches),
        attrs=attrs,
        counts=counts,
    )


def make_fleet(rng: random.Random, catalogs: Catalogs, size: int) -> list[Install]:
    """`size` installs over the catalogued products, in PRODUCT_SHARES proportions."""
    products = [p for p in PRODUCT_SHARES if catalogs.get(p) is not None]
    if not products:
        products = list(catalogs.products)
    shares = [PRODUCT_SHARES.get(p, 0.1) for p in products]
    fleet = []
    for _ in range(size):
        catalog = catalogs.get(rng.choices(products, weights=shares)[0])
        assert catalog is not None
        fleet.append(make_install(rng, catalog))
    return fleet


def periodic_events(catalog: Catalog) -> list[str]:
    events = [e for e in catalog.events if e not in ONE_OFF_EVENTS]
    return events or list(catalog.events)


def make_ping(
    rng: random.Random, install: Install, catalog: Catalog, *, first: bool
) -> dict[str, Any]:
    """The next ping of `install`: its startup first, then periodic ones (or install outcomes)."""
    attrs = dict(install.attrs)
    counts = dict(install.counts)
    if "install" in catalog.events and catalog.product == "proxmox-scripts":
        event = "install"
        attrs["nsapp"] = SCRIPTS[skewed_index(rng, len(SCRIPTS), 1.0)]
        roll = rng.random()
        if roll < FAILURE_SHARE:
            attrs["status"] = "failed"
            attrs["error_category"] = rng.choice(("network", "storage", "dependency", "timeout"))
            counts["exit_code"] = rng.choice((1, 2, 100, 127, 255))
        elif roll < FAILURE_SHARE + ABORT_SHARE:
            attrs["status"] = "aborted"
            counts["exit_code"] = 130
        else:
            attrs["status"] = "success"
            counts["exit_code"] = 0
    elif first and "startup" in catalog.events:
        event = "startup"
    else:
        event = rng.choice(periodic_events(catalog))
    return {
        "product": install.product,
        "install_id": str(install.install_id),
        "event": event,
        "version": install.version,
        "platform": install.platform,
        "os": install.os,
        "arch": install.arch,
        "ping_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "attrs": attrs,
        "counts": counts,
    }
