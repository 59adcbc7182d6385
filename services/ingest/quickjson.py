"""Untyped JSON by msgspec when the result is provably what `validate.decode_untyped` returns.

`decode_untyped` uses Python's scanner with hooks (a repeated key refused, long integers kept
out of range), which costs a Python call per object and per integer: for a Pulse heartbeat with
its ninety counts that was most of a compat route's time. msgspec decodes the same body in a
tenth of it but keeps the last of a repeated key and converts any integer, so its result is
taken only when nothing could differ, each checked by C-level calls on the bytes:
- no backslash in the body: then every `"` delimits a key or a string, and so does every `"`
  of msgspec's encoding of the decoded value (it escapes only quotes, backslashes and control
  characters, none of which such a body's strings hold); equal counts of `"` mean no key was lost
  to a repeat;
- no run of more than LONGEST_INT digits (so every integer is one `decode_untyped` converts);
- at most MAX_CONTAINERS objects and arrays (so it nests far from the depth where the exact
  scanner stops, which depends on the interpreter's stack).
Anything else (an escape, a repeated key, a long number, a body msgspec refuses) is NOT_QUICK,
and the caller decodes it the exact way: one rule, tested equal (tests/unit/test_ingest_quickjson.py).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

LONGEST_INT: Final = 20
"""Digits of the longest integer decoded as a number (longer ones are out of range)."""
MAX_CONTAINERS: Final = 256
_DIGITS: Final = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(".") for c in range(256))
"""bytes.translate table: each ASCII digit to 0, anything else to '.' (a regex search for a run
of digits backtracks at every digit and cost more than the decode)."""
_LONG_NUMBER: Final = b"0" * (LONGEST_INT + 1)


class _NotQuick:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<decode it the exact way>"


NOT_QUICK: Final = _NotQuick()
_DECODE: Final = msgspec.json.Decoder().decode
_ENCODE: Final = msgspec.json.Encoder().encode


def has_long_number(body: bytes) -> bool:
    """Whether `body` holds a run of more than LONGEST_INT digits (anywhere, strings too)."""
    return _LONG_NUMBER in body.translate(_DIGITS)


def decode(body: bytes) -> Any:
    """The decoded value, or NOT_QUICK."""
    if (
        b"\\" in body
        or body.count(b"{") + body.count(b"[") > MAX_CONTAINERS
        or has_long_number(body)
    ):
        return NOT_QUICK
    try:
        value = _DECODE(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return NOT_QUICK
    if _ENCODE(value).count(b'"') != body.count(b'"'):
        return NOT_QUICK  # a repeated key: the exact decoder names it
    return value
