"""The 400 texts for bodies that are not UTF-8 JSON: Census's words and offsets, pinned, so a
library upgrade cannot change what a client reads."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.jsonerrors import locate, reason, shown


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "the body is empty at byte 0 (line 1, column 1)"),
        (b"  \n", "the body holds only whitespace at byte 3 (line 2, column 1)"),
        (b'{"a":1,}', "not JSON: unexpected '}' at byte 7 (line 1, column 8)"),
        (b'{"product" "pulse"}', "not JSON: unexpected '\"' at byte 11 (line 1, column 12)"),
        (b'{"a":[1,2', "the body ends before its JSON value does at byte 9 (line 1, column 10)"),
        (b'{"a":1} x', "not JSON: 'x' after the JSON value at byte 8 (line 1, column 9)"),
        (b'{\n  "a": 01\n}', "not JSON: unexpected '1' at byte 10 (line 2, column 9)"),
        (
            b'{"a":"\x01"}',
            "not JSON: unexpected control character U+0001 at byte 6 (line 1, column 7)",
        ),
        (b'{"a": NaN}', "not JSON: NaN is not a JSON number at byte 6 (line 1, column 7)"),
        (
            b'{"a": "NaN", "b": -Infinity}',
            "not JSON: -Infinity is not a JSON number at byte 18 (line 1, column 19)",
        ),
        (
            b'{"a":"\\ud800"}',
            "not JSON: an unpaired UTF-16 surrogate escape at byte 6 (line 1, column 7)",
        ),
        (
            b'{"a":"x\\udc00"}',
            "not JSON: an unpaired UTF-16 surrogate escape at byte 7 (line 1, column 8)",
        ),
        (
            b"\xef\xbb\xbf{}",
            "not JSON: the body starts with a byte order mark at byte 0 (line 1, column 1)",
        ),
        (b'{"v":"5.\xff"}', "the body is not UTF-8: byte 0xff at byte 8 (line 1, column 9)"),
        (b'{"\xc3\xa9":\n "\xc3\xbc" x}', "not JSON: unexpected 'x' at byte 13 (line 2, column 6)"),
    ],
)
def test_each_problem_is_worded_and_placed(body: bytes, text: str) -> None:
    assert reason(body) == text


def test_a_paired_surrogate_and_an_escaped_backslash_are_not_problems() -> None:
    assert locate(b'{"a":"\\ud83d\\ude00", "b":"\\\\ud800"}') is None


def test_a_client_string_shown_in_a_reply_is_escaped_and_cut() -> None:
    assert shown("caf\u00e9\ud800") == "caf\\xe9\\ud800"
    assert shown("x" * 100) == "x" * 40 + "…"


@given(st.binary(max_size=64))
def test_whatever_msgspec_refuses_as_json_gets_a_positioned_reason(body: bytes) -> None:
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        problem = locate(body)
        assert problem is not None, body
        assert 0 <= problem.offset <= len(body)
    except (msgspec.ValidationError, RecursionError):
        pass  # valid JSON that msgspec cannot hold (a huge number): not a syntax problem


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_valid_json_has_no_problem(value: object) -> None:
    assert locate(json.dumps(value).encode()) is None
