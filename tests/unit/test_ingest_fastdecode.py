"""The quick decoder agrees with the canonical one, and hands every doubtful case back to it."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.ping import PING_DECODER, Ping
from services.ingest import fastdecode
from tests.support.ingest import encode, pulse_ping

CATALOGS = load_catalogs()


def fields(ping: Ping | None) -> dict[str, Any]:
    """A decoded ping's values: the quick decoder returns a Ping subclass, equal field by field."""
    assert isinstance(ping, Ping)
    return msgspec.structs.asdict(ping)


def test_a_valid_ping_decodes_to_the_canonical_struct() -> None:
    body = encode(pulse_ping())
    assert fields(fastdecode.decode_ping(body, CATALOGS)) == fields(PING_DECODER.decode(body))
    pings = [pulse_ping(), pulse_ping(attrs={}, counts={})]
    decoded = fastdecode.decode_pings(encode(pings), CATALOGS)
    assert decoded is not None
    assert [fields(p) for p in decoded] == [fields(PING_DECODER.decode(encode(p))) for p in pings]


@pytest.mark.parametrize(
    "change",
    [
        {"product": "Pulse"},
        {"product": "unknown"},
        {"event": "Heartbeat"},
        {"attrs": {"Bad Key": "x"}},
        {"counts": {"-x": 1}},
        {"counts": {"k" * 65: 1}},
        {"os": ""},
    ],
)
def test_doubtful_pings_go_back_to_the_canonical_decoder(change: dict[str, Any]) -> None:
    assert fastdecode.decode_ping(encode(pulse_ping(**change)), CATALOGS) is None


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=70),
        st.one_of(st.booleans(), st.text(max_size=70), st.integers(-1, 10**13)),
        max_size=5,
    ),
    st.sampled_from(["attrs", "counts"]),
)
def test_never_accepts_what_the_canonical_decoder_refuses(
    extra: dict[str, Any], where: str
) -> None:
    body = encode(pulse_ping(**{where: extra}))
    fast = fastdecode.decode_ping(body, CATALOGS)
    if fast is not None:
        assert fields(fast) == fields(PING_DECODER.decode(body))
