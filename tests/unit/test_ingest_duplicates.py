"""Repeated keys: refused with 400 wherever they are, and the cheap path misses none."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from services.ingest.validate import Rejection, parse_json_batch, parse_ndjson_batch, parse_ping
from tests.support.ingest import pulse_ping

CATALOGS = load_catalogs()


def with_repeat(where: str) -> bytes:
    text = json.dumps(pulse_ping())
    if where == "top":
        return text.replace('"product": "pulse"', '"product": "novu", "product": "pulse"').encode()
    if where == "attrs":
        return text.replace('"attrs": {', '"attrs": {"ai_enabled": true, ').encode()
    return text.replace('"counts": {', '"counts": {"vms": 1, ').encode()


@pytest.mark.parametrize("where", ["top", "attrs", "counts"])
def test_a_repeated_key_is_a_400_naming_it(where: str) -> None:
    body = with_repeat(where)
    with pytest.raises(Rejection) as info:
        parse_ping(body, CATALOGS)
    assert info.value.status == 400
    assert "appears twice" in info.value.reason
    with pytest.raises(Rejection):
        parse_json_batch(
            b"[" + json.dumps(pulse_ping()).encode() + b"," + body + b"]", CATALOGS, max_count=10
        )
    with pytest.raises(Rejection) as info:
        parse_ndjson_batch(json.dumps(pulse_ping()).encode() + b"\n" + body, CATALOGS, max_count=10)
    assert info.value.path == "$[1]"


def test_pretty_printed_and_escaped_quotes_are_not_repeats() -> None:
    ping = pulse_ping(version='5.1 "quoted": yes')
    assert parse_ping(json.dumps(ping, indent=2).encode(), CATALOGS).pings
    ping["attrs"] = {**ping["attrs"], "undeclared_note": 'a":b'}
    # The quoted version is not a version (dropped); neither quote is a repeated key.
    assert parse_ping(json.dumps(ping).encode(), CATALOGS).dropped_fields == [
        "version",
        "attrs.undeclared_note",
    ]


@settings(max_examples=200)
@given(
    st.sampled_from(["product", "event", "version", "os", "arch", "attrs", "counts"]), st.booleans()
)
def test_any_repeated_top_level_key_is_found(key: str, pretty: bool) -> None:
    ping = pulse_ping()
    text = json.dumps(ping, indent=1 if pretty else None)
    value = json.dumps(ping[key])
    body = text[:-1].rstrip() + f', "{key}": {value}' + "}"
    with pytest.raises(Rejection, match="appears twice"):
        parse_ping(body.encode(), CATALOGS)


@pytest.mark.parametrize("space", [" ", "\t", "\n", "\r"])
def test_a_repeat_hidden_by_whitespace_before_its_colon_is_found(space: str) -> None:
    """Only the whitespace between a key's closing quote and its colon hides it from the
    cheap `":` count; every kind of JSON whitespace must send the body to the exact check."""
    compact = json.dumps(pulse_ping(), separators=(",", ":"))
    body = compact.replace('"counts":{', '"counts":{"vms"' + space + ":1,", 1)
    with pytest.raises(Rejection, match="appears twice"):
        parse_ping(body.encode(), CATALOGS)


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["x_note", "y_note", "z"]),  # undeclared: dropped, any value goes
        st.one_of(st.booleans(), st.text(alphabet='a":,\\ {}[]\n', max_size=6)),
        min_size=1,
    ),
    st.booleans(),
    st.booleans(),
)
def test_the_quote_count_misses_no_repeat(
    attrs: dict[str, object], repeat: bool, pretty: bool
) -> None:
    """Values full of quotes, colons and escapes, compact or pretty: a repeated attrs key is
    always found, and a body without one is never refused."""
    text = json.dumps(pulse_ping(attrs=attrs), indent=1 if pretty else None)
    if repeat:
        key, value = next(iter(attrs.items()))
        text = text.replace('"attrs": {', '"attrs": {' + f'"{key}": {json.dumps(value)}, ', 1)
    try:
        parse_ping(text.encode(), CATALOGS)
    except Rejection as rejection:
        assert repeat and "appears twice" in rejection.reason, rejection
    else:
        assert not repeat
