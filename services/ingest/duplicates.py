"""Refusing JSON objects that repeat a key. Parsers disagree on which copy wins, so a repeated
key is ambiguous input; msgspec silently keeps the last one.

An exact check costs a second, slower parse, so it runs only when it could find something. Every
key and every string value in JSON is a pair of `"`; the decoded pings say how many keys and
strings the body held at least, so a body with no more quotes than that holds nothing more: no
repeated key (nor an ignored field, nor an escaped quote). Typical pings take only this count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from schemas.ping import UNKNOWN, Ping

_REQUIRED: Final = 3  # product, install_id, event: a key and a string each


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _quoted(ping: Ping) -> int:
    """Keys plus string values the body certainly held for this ping (absent optionals are
    indistinguishable from defaults, so they are not counted)."""
    # A key and a string each; an optional at its default may have been absent, so not counted.
    optional = (
        (ping.sent_at is not None)
        + (ping.ping_id is not None)
        + (ping.version != UNKNOWN)
        + (ping.platform != UNKNOWN)
        + (ping.os != UNKNOWN)
        + (ping.arch != UNKNOWN)
    )
    attrs = ping.attrs
    values = [*attrs.values()]  # str or bool; no int is equal to True or False among them
    bools = values.count(True) + values.count(False)
    return (
        2 * (_REQUIRED + optional + len(attrs))
        - bools
        + len(ping.counts)
        + bool(attrs)
        + bool(ping.counts)
    )


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Repeated(key)
        seen.add(key)
    return dict(pairs)


def repeated_key(body: bytes, pings: Sequence[Ping]) -> str | None:
    """The first key some object of `body` repeats, or None. `pings` were decoded from `body`."""
    if body.count(b'"') <= 2 * sum(map(_quoted, pings)):
        return None
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _Repeated as repeat:
        return repeat.key
    except (ValueError, RecursionError):
        return None  # msgspec accepted the body; whatever json.loads minds is not a repeat
    return None
