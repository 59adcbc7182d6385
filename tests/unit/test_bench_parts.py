"""The benches' pure parts: the floor's install-day rows, the bars' verdicts, the compat bodies."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import msgspec

from bench import mixes
from bench.bars import Bar
from bench.compatbodies import cases
from bench.floor import InstallDayRows
from schemas.record import SCHEMA_VERSION, PingRecord


def _ping(install: uuid.UUID, at: dt.datetime, version: str) -> PingRecord:
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=at,
        product="pulse",
        install_id=install,
        event="heartbeat",
        version=version,
        platform="docker",
        os="linux",
        arch="amd64",
        ping_id=uuid.uuid4(),
        counts={"vms": 3},
    )


def test_floor_rows_are_one_per_utc_day_product_and_install_in_the_latest_state() -> None:
    install = uuid.uuid4()
    noon = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    pings = [
        _ping(install, noon, "5.0"),
        _ping(install, noon + dt.timedelta(hours=1), "5.1"),
        _ping(install, noon + dt.timedelta(hours=12), "5.2"),  # the next UTC day
    ]
    rows = InstallDayRows()
    for ping in pings:
        rows.add(ping)
    columns = ["day", "install_id", "version", "pings", "first_ping", "last_ping", "ping_ids"]
    got = sorted(rows.values(columns))
    assert len(rows) == 2
    assert got[0][:6] == (noon.date(), install, "5.1", 2, noon, noon + dt.timedelta(hours=1))
    assert got[0][6] == pings[0].ping_id.bytes + pings[1].ping_id.bytes  # type: ignore[union-attr]
    assert got[1][:4] == (noon.date() + dt.timedelta(days=1), install, "5.2", 1)


def test_a_bar_is_met_missed_or_not_measured() -> None:
    at_least = Bar("ratio", ">=", 0.25)
    at_most = Bar("lag", "<=", 1.0)
    assert at_least.verdict({"ratio": 0.25}) == "met"
    assert at_least.verdict({"ratio": 0.2}) == "missed"
    assert at_most.verdict({"lag": 1.5}) == "missed"
    assert at_most.verdict({"lag": None}) == "not measured"
    assert at_most.verdict({}) == "not measured"
    assert at_most.verdict({"lag": float("nan")}) == "not measured"


def test_compat_bodies_get_fresh_install_ids_and_a_missing_route_is_skipped_with_a_note() -> None:
    found, notes = cases(("/compat/flowfuse/ping",), 3)
    assert [c.product for c in found] == ["flowfuse"]
    ids = {msgspec.json.decode(body)["instanceId"] for body in found[0].bodies}
    assert len(ids) == 3
    assert any("/compat/maestrohub/report is not a route" in note for note in notes)


def test_the_realistic_mix_has_many_pings_per_install_day_in_receive_order() -> None:
    pings = list(mixes.realistic(random.Random(1), 5000, 3))
    rows = InstallDayRows()
    for ping in pings:
        rows.add(ping)
    assert len(pings) / len(rows) > 5
    assert [p.received_at for p in pings] == sorted(p.received_at for p in pings)
    assert {p.product for p in pings} == {"pulse", "novu", "proxmox-scripts"}
