"""The simulated fleet: valid against the catalogs, deterministic, realistic in shape."""

from __future__ import annotations

import collections
import itertools
import json
import random

import pytest

from schemas.catalog import load_catalogs
from schemas.reader import read_ping
from services.fleet.model import make_fleet
from services.fleet.schedule import pings

CATALOGS = load_catalogs()


def sample(seed: int, installs: int = 300, count: int = 3000) -> list[dict[str, object]]:
    rng = random.Random(seed)
    fleet = make_fleet(rng, CATALOGS, installs)
    return list(itertools.islice(pings(rng, fleet, CATALOGS, heartbeat_s=10.0), count))


def test_every_generated_ping_passes_its_catalog_with_nothing_dropped() -> None:
    for ping in sample(seed=7):
        read = read_ping(json.loads(json.dumps(ping)), CATALOGS)
        assert read.drops == (), (ping, read.drops)


def test_same_seed_same_pings_other_seed_other_pings() -> None:
    assert sample(seed=3, count=200) == sample(seed=3, count=200)
    assert sample(seed=3, count=200) != sample(seed=4, count=200)


def test_fleet_mixes_products_and_skews_to_recent_versions() -> None:
    drawn = sample(seed=11, installs=2000, count=2000)
    products = collections.Counter(str(p["product"]) for p in drawn)
    assert set(products) == {"pulse", "proxmox-scripts", "flowfuse", "novu", "maestrohub"}
    pulse_versions = collections.Counter(
        str(p["version"]) for p in drawn if p["product"] == "pulse"
    )
    (top, _), *_ = pulse_versions.most_common()
    assert top == max(pulse_versions, key=lambda v: tuple(map(int, v.split("."))))


def test_each_install_starts_with_startup_then_heartbeats() -> None:
    first_event: dict[object, object] = {}
    for ping in sample(seed=5, installs=100, count=400):
        first_event.setdefault(ping["install_id"], ping["event"])
    pulse_firsts = [e for i, e in first_event.items() if e in {"startup", "heartbeat"}]
    assert pulse_firsts
    assert set(pulse_firsts) == {"startup"}


def test_proxmox_install_outcomes_include_failures() -> None:
    outcomes = collections.Counter(
        p["attrs"]["status"]  # type: ignore[index]
        for p in sample(seed=9, installs=1000, count=6000)
        if p["product"] == "proxmox-scripts"
    )
    total = sum(outcomes.values())
    assert outcomes["failed"] / total == pytest.approx(0.08, abs=0.03)
    assert outcomes["success"] > outcomes["failed"] > 0


def test_ping_ids_are_unique() -> None:
    ids = [p["ping_id"] for p in sample(seed=1)]
    assert len(ids) == len(set(ids))
