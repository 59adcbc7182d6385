"""A quicker decode of the canonical Ping for the common case; the canonical decoder stays the
authority.

msgspec checks `Meta(pattern=...)` with Python's `re`, once per attrs/counts key: for a Pulse
ping that is most of the decode time. Keys the catalog declares match the pattern by
construction (the catalog loader enforces it), so the mirror Struct here checks lengths natively
and the pattern only for undeclared keys. Anything the mirror would not accept exactly as the
canonical decoder does (a type error, an unknown product, a key that breaks the pattern) is
decoded again by the canonical decoder, so errors and edge cases are the shared schema's own.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import KEY_PATTERN, AttrValue, Count, Ping

_KEY: Final = re.compile(KEY_PATTERN)
_LooseSlug = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
_LooseKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Mirror(Ping, frozen=True, kw_only=True):
    """A Ping (a subclass, so no copy is needed) whose names are only length-checked."""

    product: _LooseSlug
    event: _LooseSlug
    attrs: dict[_LooseKey, AttrValue] = msgspec.field(default_factory=dict)
    counts: dict[_LooseKey, Count] = msgspec.field(default_factory=dict)


_DECODER: Final = msgspec.json.Decoder(_Mirror)
_LIST_DECODER: Final = msgspec.json.Decoder(list[_Mirror])


def _as_ping(loose: _Mirror, catalogs: Catalogs) -> Ping | None:
    """The canonical Ping, or None when only the canonical decoder may judge this one."""
    catalog = catalogs.get(loose.product)
    if catalog is None or loose.event not in catalog.events:
        return None  # the slug pattern and the catalog error are the canonical path's business
    for key in loose.attrs:
        if key not in catalog.attrs and _KEY.match(key) is None:
            return None
    for key in loose.counts:
        if key not in catalog.counts and _KEY.match(key) is None:
            return None
    return loose


def decode_ping(body: bytes, catalogs: Catalogs) -> Ping | None:
    """Ping, or None: use the canonical decoder (which also raises the canonical errors)."""
    try:
        loose = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    return _as_ping(loose, catalogs)


def decode_pings(body: bytes, catalogs: Catalogs) -> list[Ping] | None:
    """A JSON array of pings, or None: use the canonical decoder."""
    try:
        items = _LIST_DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    pings: list[Ping] = []
    for loose in items:
        ping = _as_ping(loose, catalogs)
        if ping is None:
            return None
        pings.append(ping)
    return pings
