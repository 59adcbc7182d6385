"""The fleet's ground truth (tests/support/truth.py) follows docs/analysts.md for the day state and
for pings without ping_id, which the fault tests rely on."""

from __future__ import annotations

from typing import Any

from schemas.catalog import load_catalogs
from tests.support.truth import expected_views

CATALOGS = load_catalogs()
INSTALL = "0dcd9893-3e7b-4651-8ab4-4a962b635397"


def novu(event: str, **fields: Any) -> dict[str, Any]:
    ping = {"product": "novu", "install_id": INSTALL, "event": event, "version": "2.1.0",
            "platform": "docker", "os": "linux", "arch": "amd64"}  # fmt: skip
    return {**ping, **fields}


def test_the_day_state_is_the_union_of_known_values() -> None:
    views = expected_views(
        [
            novu("usage", counts={"event_count": 7}, ping_id="a"),
            novu("beacon", os="unknown", counts={"free_memory_mb": 9}, ping_id="b"),
        ],
        CATALOGS,
    )
    assert views.active == {("novu", "2.1.0", "docker", "linux", "amd64"): (1, 2)}
    assert views.counts == {
        ("novu", "event_count"): (1, 7, 7, 7),
        ("novu", "free_memory_mb"): (1, 9, 9, 9),
    }


def test_pings_without_ping_id_count_once_per_content() -> None:
    beacon = novu("beacon", sent_at="2026-12-01T10:00:00.123456Z")
    later = {**beacon, "sent_at": "2026-12-01T11:00:00.654321Z"}
    views = expected_views([beacon, dict(beacon), later], CATALOGS)
    assert views.active == {("novu", "2.1.0", "docker", "linux", "amd64"): (1, 2)}
