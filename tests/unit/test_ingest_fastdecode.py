"""The quick path agrees with the tolerant reader: whatever it takes, the reader would take
exactly so, with nothing dropped; everything doubtful is handed to the reader."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.ping import Ping
from schemas.reader import read_ping
from services.ingest import fastdecode
from tests.support.ingest import encode, pulse_ping

CATALOGS = load_catalogs()
PULSE = CATALOGS.get("pulse")
assert PULSE is not None


def fields(ping: Ping) -> dict[str, Any]:
    """A decoded ping's values: the quick decoder returns a Ping subclass, equal field by field."""
    assert isinstance(ping, Ping)
    return msgspec.structs.asdict(ping)


def same_as_the_reader(body: bytes, decoded: list[Ping]) -> None:
    raw = json.loads(body)
    items = raw if isinstance(raw, list) else [raw]
    assert len(items) == len(decoded)
    for item, ping in zip(items, decoded, strict=True):
        read = read_ping(item, CATALOGS)
        assert read.drops == (), read.drops
        assert fields(read.ping) == fields(ping)


def test_a_valid_ping_is_taken_as_the_reader_would() -> None:
    body = encode(pulse_ping())
    decoded = fastdecode.decode_ping(body, CATALOGS)
    assert decoded is not None
    same_as_the_reader(body, decoded)
    pings = encode([pulse_ping(), pulse_ping(attrs={}, counts={})])
    many = fastdecode.decode_pings(pings, CATALOGS)
    assert many is not None
    same_as_the_reader(pings, many)


@pytest.mark.parametrize(
    "change",
    [
        {"product": "Pulse"},
        {"product": "unknown"},
        {"event": "Heartbeat"},
        {"attrs": {"Bad Key": "x"}},
        {"attrs": {"not_declared": "x"}},
        {"counts": {"-x": 1}},
        {"counts": {"k" * 65: 1}},
        {"os": ""},
        {"os": "Linux"},
        {"version": "v6.0.0"},
        {"version": "db01.example.com"},
        {"sent_at": "2026-11-23T10:00:00"},
    ],
)
def test_doubtful_pings_go_to_the_reader(change: dict[str, Any]) -> None:
    assert fastdecode.decode_ping(encode(pulse_ping(**change)), CATALOGS) is None
    batch = [pulse_ping(), pulse_ping(**change)]
    assert fastdecode.decode_pings(encode(batch), CATALOGS) is None


def test_deep_nesting_in_an_ignored_field_goes_to_the_reader_not_up() -> None:
    body = encode(pulse_ping())[:-1] + b', "junk": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert fastdecode.decode_ping(body, CATALOGS) is None
    assert fastdecode.decode_pings(b"[" + body + b"]", CATALOGS) is None


_values = st.one_of(
    st.booleans(),
    st.sampled_from(["stable", "docker_compose", "x", "other", "unknown", "v1.2", "1.2.3"]),
    st.text(max_size=70),
    st.integers(-1, 10**13),
)


@settings(max_examples=400)
@given(
    st.dictionaries(st.sampled_from([*PULSE.attrs, "undeclared"]), _values, max_size=6),
    st.dictionaries(st.sampled_from([*PULSE.counts, "undeclared"]), _values, max_size=6),
    st.sampled_from(["heartbeat", "startup", "no-such-event"]),
    st.dictionaries(
        st.sampled_from(["version", "platform", "os", "arch"]),
        st.sampled_from(
            ["5.1.2", "v5.1.2", "linux", "amd64", "docker", "other", "unknown", "Linux", "x y"]
        ),
    ),
)
def test_whatever_the_quick_path_takes_the_reader_takes_unchanged(
    attrs: dict[str, Any], counts: dict[str, Any], event: str, envelope: dict[str, str]
) -> None:
    """The one-rule-in-one-place check: the quick path is a second version of the reader's rules
    for right pings, so it must never take a ping the reader would change."""
    body = encode(pulse_ping(attrs=attrs, counts=counts, event=event, **envelope))
    fast = fastdecode.decode_ping(body, CATALOGS)
    if fast is not None:
        same_as_the_reader(body, fast)


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.sampled_from(["2026-11-23T10:00:00", "2026-12-31T23:59:59", "2024-02-29T23:59:59"]),
    st.sampled_from(["Z", "+02:00", "-05:30"]),
)
def test_a_sent_at_finer_than_a_microsecond_is_read_the_same_by_both_paths(
    fraction: str, moment: str, zone: str
) -> None:
    """msgspec rounds the seventh digit of a fraction half up; the reader must too, or the same
    ping's sent_at (and its derived retry id) would depend on the path that read it."""
    body = encode(pulse_ping(sent_at=f"{moment}.{fraction}{zone}"))
    fast = fastdecode.decode_ping(body, CATALOGS)
    assert fast is not None
    same_as_the_reader(body, fast)
