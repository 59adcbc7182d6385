"""Untyped JSON by msgspec when the result is provably what `validate.decode_untyped` returns.

`decode_untyped` uses Python's scanner with hooks (a repeated key refused, long integers kept
out of range), which costs a Python call per object and per integer: for a Pulse heartbeat with
its ninety counts that was most of a compat route's time. msgspec decodes the same body in a
tenth of it but keeps the last of a repeated key and converts any integer, so its result is
taken only when nothing could differ:
- no backslash in the body: then every `"` delimits a key or a string value, and a body with
  exactly twice as many quotes as the decoded value holds keys and strings repeated nothing;
- no run of more than LONGEST_INT digits (so every integer is one `decode_untyped` converts);
- nesting at most MAX_DEPTH deep (the exact scanner's limit is the interpreter's stack).
Anything else (an escape, a repeated key, a long number, a body msgspec refuses) is NOT_QUICK,
and the caller decodes it the exact way: one rule, tested equal (tests/unit/test_ingest_quickjson.py).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

LONGEST_INT: Final = 20
"""Digits of the longest integer decoded as a number (longer ones are out of range)."""
_DIGITS: Final = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(".") for c in range(256))
"""bytes.translate table: each ASCII digit to 0, anything else to '.' (a regex search for a run
of digits backtracks at every digit and cost more than the decode)."""
_LONG_NUMBER: Final = b"0" * (LONGEST_INT + 1)
MAX_DEPTH: Final = 32
"""Deeper bodies are decoded the exact way (no client's ping nests more than a few levels)."""


class _NotQuick:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<decode it the exact way>"


NOT_QUICK: Final = _NotQuick()
_DECODE: Final = msgspec.json.Decoder().decode


def decode(body: bytes) -> Any:
    """The decoded value, or NOT_QUICK."""
    if b"\\" in body or _LONG_NUMBER in body.translate(_DIGITS):
        return NOT_QUICK
    try:
        value = _DECODE(body)
        strings = _strings(value, MAX_DEPTH)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return NOT_QUICK
    if strings < 0 or body.count(b'"') != 2 * strings:
        return NOT_QUICK
    return value


def _strings(value: Any, depth: int) -> int:
    """Keys plus string values in `value`; -1 if it nests deeper than `depth`. Counted with
    C-level calls (map, list.count): a Python step per value was half of this module's time."""
    kind = type(value)
    if kind is dict:
        items = list(value.values())
        count = len(items)
    elif kind is list:
        items = value
        count = 0
    else:
        return 1 if kind is str else 0
    kinds = list(map(type, items))
    count += kinds.count(str)
    if dict in kinds or list in kinds:
        if depth == 0:
            return -1
        for item in items:
            if type(item) is dict or type(item) is list:
                inner = _strings(item, depth - 1)
                if inner < 0:
                    return -1
                count += inner
    return count
