"""quickjson equals the exact decoder: whatever it decodes, decode_exact decodes the same; all
else it hands over (a repeated key, an escape, a long number, deep nesting, bad bytes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest import quickjson
from services.ingest.validate import Rejection, decode_exact

_keys = st.sampled_from(["a", "b", "os", "counts", "attrs", "é", "x y", 'q"', "back\\slash"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**22), max_value=10**22)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


def _exact(body: bytes) -> tuple[str, Any]:
    try:
        return "value", decode_exact(body)
    except Rejection as rejection:
        return "refused", rejection.reason


def _repeat_a_key(body: bytes) -> bytes:
    """`{"a": 1, ...}` → `{"a": 0, "a": 1, ...}` for the first object (a repeated key)."""
    start = body.find(b'{"')
    if start < 0:
        return body
    end = body.find(b'":', start)
    return body[: start + 1] + body[start + 1 : end + 2] + b"0, " + body[start + 1 :]


@settings(max_examples=400)
@given(_values, st.booleans(), st.booleans())
def test_what_quickjson_decodes_the_exact_decoder_decodes_the_same(
    value: Any, compact: bool, repeat: bool
) -> None:
    body = json.dumps(value, separators=(",", ":") if compact else None).encode()
    if repeat:
        body = _repeat_a_key(body)
    quick = quickjson.decode(body)
    if quick is not quickjson.NOT_QUICK:
        assert _exact(body) == ("value", quick)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": "x", "b": {"c": 1, "c": 1}}',
        b'{"a": "\\u0041"}',
        b'{"a": "\\ud800"}',
        b'{"a": 123456789012345678901}',
        b'{"a": NaN}',
        b'{"a": 1e999}',
        b'{"a": "\xff"}',
        b"\xef\xbb\xbf{}",
        b"[" * 300 + b"]" * 300,
        b'{"a": 1,}',
    ],
)
def test_doubtful_bodies_are_decoded_the_exact_way(body: bytes) -> None:
    assert quickjson.decode(body) is quickjson.NOT_QUICK


def test_a_plain_body_is_decoded_quickly_and_equal() -> None:
    body = b'{"product": "pulse", "counts": {"a": 12345678901234567890, "b": -3}, "x": [1.5, null]}'
    quick = quickjson.decode(body)
    assert quick == decode_exact(body)
    assert quick["counts"]["a"] == 12345678901234567890
