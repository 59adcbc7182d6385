"""Every field rule of the canonical ping: valid decodes, and each violation's JSON path."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest

from schemas.errors import decode_error, validation_error
from schemas.ping import Ping, decode_ping

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
    return {k: v for k, v in ping.items() if v is not _DROP}


_DROP = object()


def decode(obj: dict[str, Any]) -> Ping:
    return decode_ping(json.dumps(obj).encode())


def violation(obj: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        decode(obj)
    error = validation_error(info.value, obj, Ping)
    return f"{error.reason} - at `{error.path}`"


def test_valid_ping_decodes_with_typed_fields() -> None:
    ping = decode(valid(sent_at="2026-11-23T10:00:00Z", ping_id=str(uuid.UUID(int=7))))
    assert ping.install_id == uuid.UUID(INSTALL)
    assert ping.sent_at == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    assert ping.ping_id == uuid.UUID(int=7)
    assert ping.attrs == {"ai_enabled": True, "deployment_method": "docker"}
    assert ping.counts == {"vms": 12}


def test_optional_fields_default_to_empty() -> None:
    ping = decode(valid(attrs=_DROP, counts=_DROP))
    assert ping.sent_at is None and ping.ping_id is None
    assert ping.attrs == {} and ping.counts == {}


def test_unknown_top_level_fields_are_not_kept() -> None:
    ping = decode(valid(hostname="db01.example.com", ip="10.0.0.7"))
    assert "hostname" not in msgspec.structs.asdict(ping)
    assert b"db01" not in msgspec.json.encode(ping)


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"product": "Pulse"}, "$.product", "matching regex"),
        ({"product": "-pulse"}, "$.product", "matching regex"),
        ({"product": "p" * 41}, "$.product", "matching regex"),
        ({"product": 7}, "$.product", "Expected `str`"),
        ({"install_id": "not-a-uuid"}, "$.install_id", "Invalid UUID"),
        ({"event": "Start Up"}, "$.event", "matching regex"),
        ({"version": "v" * 65}, "$.version", "length <= 64"),
        ({"version": ""}, "$.version", "length >= 1"),
        ({"platform": "x" * 33}, "$.platform", "length <= 32"),
        ({"os": "x" * 33}, "$.os", "length <= 32"),
        ({"arch": "x" * 17}, "$.arch", "length <= 16"),
        ({"sent_at": "yesterday"}, "$.sent_at", "Invalid RFC3339"),
        ({"sent_at": "2026-11-23T10:00:00"}, "$.sent_at", "timezone"),
        ({"ping_id": "12"}, "$.ping_id", "Invalid UUID"),
        ({"attrs": {"flag": "x" * 65}}, "$.attrs.flag", "length <= 64"),
        ({"attrs": {"ok": "x", "flag": 3}}, "$.attrs.flag", "Expected `bool | str`, got `int`"),
        ({"attrs": {"Bad Key": True}}, "$.attrs", "invalid key"),
        ({"counts": {"vms": -1}}, "$.counts.vms", ">= 0"),
        ({"counts": {"vms": 10**12 + 1}}, "$.counts.vms", "<= 1000000000000"),
        ({"counts": {"vms": 1.5}}, "$.counts.vms", "Expected `int`"),
        ({"counts": {"vms": "12"}}, "$.counts.vms", "Expected `int`"),
    ],
)
def test_each_violation_names_its_json_path(
    changes: dict[str, Any], path: str, reason: str
) -> None:
    message = violation(valid(**changes))
    assert f"`{path}`" in message
    assert reason in message


@pytest.mark.parametrize(
    "field", ["product", "install_id", "event", "version", "platform", "os", "arch"]
)
def test_missing_required_field_is_named(field: str) -> None:
    message = violation(valid(**{field: _DROP}))
    assert f"missing required field `{field}`" in message


def test_counts_boundaries_are_inclusive() -> None:
    assert decode(valid(counts={"a": 0, "b": 10**12})).counts == {"a": 0, "b": 10**12}


def test_not_json_is_a_decode_error_with_position() -> None:
    body = b'{"product": "pulse",'
    with pytest.raises(msgspec.DecodeError) as info:
        decode_ping(body)
    assert "at byte 20" in decode_error(info.value, body).reason
    with pytest.raises(msgspec.DecodeError) as info:
        decode_ping(b'{"product" "pulse"}')
    assert "byte 11" in decode_error(info.value, body).reason


def test_batch_item_paths_name_the_index_and_key() -> None:
    from schemas.ping import PING_LIST_DECODER

    items = [valid(), valid(counts={"vms": 1, "cts": -5})]
    with pytest.raises(msgspec.ValidationError) as info:
        PING_LIST_DECODER.decode(json.dumps(items).encode())
    error = validation_error(info.value, items, Ping)
    assert error.path == "$[1].counts.cts"
    assert error.reason == "Expected `int` >= 0"


def test_invalid_utf8_inside_a_string_is_a_decode_error() -> None:
    body = json.dumps(valid()).encode().replace(b'"linux"', b'"lin\xffx"')
    with pytest.raises(msgspec.DecodeError, match="invalid UTF-8"):
        decode_ping(body)
