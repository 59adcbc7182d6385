"""The canonical Ping Struct: what a right ping decodes to. Wrong fields are the tolerant
reader's business (tests/unit/test_reader.py); its errors never reach a client from here."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec

from schemas.ping import UNKNOWN, Ping, decode_ping

INSTALL = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"


def valid(**changes: Any) -> dict[str, Any]:
    ping: dict[str, Any] = {
        "product": "pulse",
        "install_id": INSTALL,
        "event": "heartbeat",
        "version": "5.1.2",
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
        "attrs": {"ai_enabled": True, "deployment_method": "docker"},
        "counts": {"vms": 12},
    }
    ping.update(changes)
    return {k: v for k, v in ping.items() if v is not None}


def decode(obj: dict[str, Any]) -> Ping:
    return decode_ping(json.dumps(obj).encode())


def test_valid_ping_decodes_with_typed_fields() -> None:
    ping = decode(valid(sent_at="2026-11-23T10:00:00Z", ping_id=str(uuid.UUID(int=7))))
    assert ping.install_id == uuid.UUID(INSTALL)
    assert ping.sent_at == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    assert ping.ping_id == uuid.UUID(int=7)
    assert ping.attrs == {"ai_enabled": True, "deployment_method": "docker"}
    assert ping.counts == {"vms": 12}


def test_optional_fields_default_to_empty_or_unknown() -> None:
    ping = decode(valid(attrs=None, counts=None, version=None, platform=None, os=None, arch=None))
    assert ping.sent_at is None and ping.ping_id is None
    assert ping.attrs == {} and ping.counts == {}
    assert (ping.version, ping.platform, ping.os, ping.arch) == (UNKNOWN,) * 4


def test_unknown_top_level_fields_are_not_kept() -> None:
    ping = decode(valid(hostname="db01.example.com", ip="10.0.0.7"))
    assert "hostname" not in msgspec.structs.asdict(ping)
    assert b"db01" not in msgspec.json.encode(ping)


def test_counts_boundaries_are_inclusive() -> None:
    assert decode(valid(counts={"a": 0, "b": 10**12})).counts == {"a": 0, "b": 10**12}
