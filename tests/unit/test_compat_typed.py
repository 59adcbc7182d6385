"""compat/typed.py: what its count of quotes rests on, and what sends a body the tolerant way."""

from __future__ import annotations

import json

import msgspec
import pytest

from services.ingest.compat import flowfuse, maestrohub, novu, proxmox, typed
from tests.support import compat

STRUCTS = (
    proxmox.ProxmoxReport,
    flowfuse.FlowFusePing,
    maestrohub.MaestroHubReport,
    novu.NovuEvent,
    novu.NovuBeacon,
    novu.NovuUsage,
)


@pytest.mark.parametrize("kind", STRUCTS, ids=lambda kind: kind.__name__)
def test_a_field_the_body_lacks_is_not_encoded(kind: type[msgspec.Struct]) -> None:
    """Each key the twin encodes was in the body: the proof that equal counts of quotes leave
    no repeated key and no null in it."""
    required = {
        f.encode_name: {} if f.name == "properties" else "x"
        for f in msgspec.structs.fields(kind)
        if f.required
    }
    value = msgspec.json.decode(json.dumps(required).encode(), type=typed.twin(kind))
    assert msgspec.json.decode(msgspec.json.encode(value)) == required


def test_a_struct_with_a_default_factory_has_no_twin() -> None:
    class Listed(msgspec.Struct):
        items: list[int] = msgspec.field(default_factory=list)

    with pytest.raises(TypeError, match="default_factory"):
        typed.twin(Listed)


BODY = compat.maestrohub_body()


@pytest.mark.parametrize(
    ("change", "quick"),
    [
        ({}, True),
        ({"hostname": None}, False),  # a null: its key's quotes are not encoded
        ({"users": 0}, True),  # not the default (None): encoded
        ({"uns": {**BODY["uns"], "mqtt_mode": None}}, False),
        ({"uns": {**BODY["uns"], "unknown": 1}}, False),
        ({"version": "2.2.0\\u0020"}, False),  # an escape
        ({"timestamp": 10**21}, False),  # a number the exact decoder keeps out of range
    ],
)
def test_what_sends_a_body_the_tolerant_way(change: dict[str, object], quick: bool) -> None:
    body = json.dumps({**BODY, **change}).encode().replace(b"\\\\u0020", b"\\u0020")
    assert (typed.decode(body, maestrohub.MaestroHubReport) is not None) is quick


def test_a_repeated_nested_key_is_seen() -> None:
    body = json.dumps(BODY).encode().replace(b'"uns": {', b'"uns": {"topics": 1, ', 1)
    assert typed.decode(body, maestrohub.MaestroHubReport) is None
