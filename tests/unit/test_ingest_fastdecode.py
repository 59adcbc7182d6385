"""The quick decoder agrees with the canonical one, and hands every doubtful case back to it."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.ping import PING_DECODER, Ping
from schemas.validation import CatalogViolation, check_ping
from services.ingest import fastdecode
from tests.support.ingest import encode, pulse_ping

CATALOGS = load_catalogs()


def fields(ping: Ping) -> dict[str, Any]:
    """A decoded ping's values: the quick decoder returns a Ping subclass, equal field by field."""
    assert isinstance(ping, Ping)
    return msgspec.structs.asdict(ping)


def only(decoded: fastdecode.Decoded | None) -> Ping:
    assert decoded is not None
    assert len(decoded.pings) == 1
    return decoded.pings[0]


def test_a_valid_ping_decodes_to_the_canonical_struct() -> None:
    body = encode(pulse_ping())
    decoded = fastdecode.decode_ping(body, CATALOGS)
    assert decoded is not None and decoded.clean
    assert fields(only(decoded)) == fields(PING_DECODER.decode(body))
    pings = [pulse_ping(), pulse_ping(attrs={}, counts={})]
    many = fastdecode.decode_pings(encode(pings), CATALOGS)
    assert many is not None and many.clean
    assert [fields(p) for p in many.pings] == [
        fields(PING_DECODER.decode(encode(p))) for p in pings
    ]


def test_a_ping_with_an_undeclared_key_is_decoded_but_not_clean() -> None:
    pings = [pulse_ping(), pulse_ping(attrs={"not_declared": "x"})]
    many = fastdecode.decode_pings(encode(pings), CATALOGS)
    assert many is not None and not many.clean
    assert many.pings[1].attrs == {"not_declared": "x"}  # dropping it is check_ping's job


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
    batch = [pulse_ping(), pulse_ping(**change)]
    assert fastdecode.decode_pings(encode(batch), CATALOGS) is None


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
        assert fields(only(fast)) == fields(PING_DECODER.decode(body))


PULSE = CATALOGS.get("pulse")
assert PULSE is not None


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*PULSE.attrs, "undeclared"]),
        st.one_of(st.booleans(), st.sampled_from(["stable", "docker_compose", "x"])),
        max_size=6,
    ),
    st.dictionaries(
        st.sampled_from([*PULSE.counts, "undeclared"]), st.integers(0, 10**12), max_size=6
    ),
    st.sampled_from(["heartbeat", "no-such-event"]),
)
def test_clean_means_the_catalog_check_would_change_nothing(
    attrs: dict[str, Any], counts: dict[str, int], event: str
) -> None:
    """`clean` lets ingest skip check_ping: it must never be said of a ping that check_ping
    would refuse or strip."""
    body = encode(pulse_ping(attrs=attrs, counts=counts, event=event))
    fast = fastdecode.decode_ping(body, CATALOGS)
    if fast is None or not fast.clean:
        return
    try:
        checked = check_ping(only(fast), CATALOGS)
    except CatalogViolation as exc:
        raise AssertionError(f"said clean, but check_ping refuses it: {exc}") from None
    assert checked.dropped_fields == ()
    assert checked.ping is fast.pings[0]
