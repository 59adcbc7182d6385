"""Refusing JSON objects that repeat a key. Parsers disagree on which copy wins, so a repeated
key is ambiguous input; msgspec silently keeps the last one.

An exact check costs a second, slower parse, so it runs only when it could find something: every
key in JSON is a string followed by a colon, so a body with no more `"…":` tokens than the
decoded pings have keys cannot hold a repeat. Typical pings take only the cheap count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from schemas.ping import Ping

_KEY_TOKEN: Final = re.compile(rb'"\s*:')
_QUOTE_SPACE: Final = re.compile(rb'"\s')
_REQUIRED: Final = 7  # product, install_id, event, version, platform, os, arch


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _decoded_keys(ping: Ping) -> int:
    """Keys the body certainly held for this ping (absent optionals are indistinguishable)."""
    return (
        _REQUIRED
        + (ping.sent_at is not None)
        + (ping.ping_id is not None)
        + len(ping.attrs)
        + len(ping.counts)
        + bool(ping.attrs)
        + bool(ping.counts)
    )


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Repeated(key)
        seen.add(key)
    return dict(pairs)


def _key_tokens(body: bytes) -> int:
    """At least as many as the keys in `body`: counted without a regex when no quote is followed
    by whitespace, so that every key token is exactly `":` (a few times faster)."""
    if _QUOTE_SPACE.search(body) is not None:
        return len(_KEY_TOKEN.findall(body))
    return body.count(b'":')


def repeated_key(body: bytes, pings: Sequence[Ping]) -> str | None:
    """The first key some object of `body` repeats, or None. `pings` were decoded from `body`."""
    if _key_tokens(body) <= sum(map(_decoded_keys, pings)):
        return None
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _Repeated as repeat:
        return repeat.key
    except (ValueError, RecursionError):
        return None  # msgspec accepted the body; whatever json.loads minds is not a repeat
    return None
