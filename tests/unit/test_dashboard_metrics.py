"""The dashboard's gauges: the published numbers only, with bounded labels."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from services.dashboard.metrics import DashboardMetrics, collect
from services.dashboard.reader import Reader, Rules
from services.dashboard.rows import ActivityRow, OutcomeEvents
from tests.support.dashboard import FakeStore

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - dt.timedelta(days=1)
CATALOGS = load_catalogs().by_product


def outcome(value: str, status: str, n: int, by: str = "nsapp") -> OutcomeEvents:
    return OutcomeEvents(TODAY, value, status, "network" if status == "failed" else "", n)


def reader(top: int = 10) -> Reader:
    scripts = [outcome(f"app{i}", "success", 20 + i) for i in range(15)]
    scripts += [outcome("app14", "failed", 10), outcome("app13", "failed", 3)]
    store = FakeStore(
        activity_rows={
            "pulse": [
                ActivityRow(YESTERDAY - dt.timedelta(days=1), 100, 150, 200, 5),
                ActivityRow(YESTERDAY, 40, 150, 200, 5),
            ],
            "novu": [ActivityRow(YESTERDAY, 3, 3, 3, 0)],
        },
        outcome_rows={"proxmox-scripts": scripts},
    )
    return Reader(store, CATALOGS, Rules(5, 10), lambda: NOW)


async def test_gauges_hold_only_published_numbers() -> None:
    snap = await collect(reader(), top=10)
    assert snap.active[("pulse", "1d")] == 40
    assert snap.active[("pulse", "28d")] == 200
    assert ("novu", "1d") not in snap.active  # 3 installs < k
    assert snap.dau_ratio["pulse"] == 0.4
    nsapp = {v: n for (p, d, v), n in snap.runs.items() if d == "nsapp"}
    assert len(nsapp) == 10  # top N of a free-string dimension
    assert snap.failure_ratio[("proxmox-scripts", "nsapp", "app14")] == 10 / 44
    # app13's 3 failures are fewer than k: its rate is not published
    assert ("proxmox-scripts", "nsapp", "app13") not in snap.failure_ratio


async def test_enum_dimensions_export_only_declared_values() -> None:
    snap = await collect(reader(), top=10)
    # The fake store answers every `by` with the nsapp values; for the enum dimensions (type,
    # repo_source) none of them is declared, so none becomes a label value.
    assert not [key for key in snap.runs if key[1] in {"type", "repo_source"}]


async def test_update_replaces_every_series() -> None:
    registry = CollectorRegistry()
    metrics = DashboardMetrics(registry)
    metrics.update(await collect(reader(), top=10))
    assert (
        registry.get_sample_value(
            "census_dashboard_active_installs", {"product": "pulse", "window": "1d"}
        )
        == 40
    )
    metrics.update(await collect(reader(), top=2))
    names = {
        s.labels.get("value")
        for m in registry.collect()
        for s in m.samples
        if s.name == "census_dashboard_outcome_runs"
    }
    assert len(names) == 2
