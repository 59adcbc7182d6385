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
from dataclasses import dataclass
from typing import Annotated, Final, cast

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import KEY_PATTERN, AttrValue, Count, Ping
from schemas.validation import is_clean

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


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the canonical decoder would have returned; `clean` when the catalog takes every
    ping as it is (nothing to drop, nothing to refuse), so it need not be checked again."""

    pings: list[Ping]
    clean: bool


def _canonical(loose: _Mirror, catalogs: Catalogs) -> bool:
    """Would the canonical decoder take `loose` as it is? False: let it judge (and explain)."""
    catalog = catalogs.get(loose.product)
    if catalog is None or loose.event not in catalog.events:
        return False  # the slug pattern and the catalog error are the canonical path's business
    undeclared = [k for k in loose.attrs if k not in catalog.attrs]
    undeclared += [k for k in loose.counts if k not in catalog.counts]
    return all(_KEY.match(key) is not None for key in undeclared)


def _judge(items: list[_Mirror], catalogs: Catalogs) -> Decoded | None:
    clean = True
    for loose in items:
        # A clean ping's keys are all declared, so they match the pattern by construction:
        # one pass over its keys answers both questions.
        if is_clean(loose, catalogs):
            continue
        clean = False
        if not _canonical(loose, catalogs):
            return None
    return Decoded(cast(list[Ping], items), clean)  # a _Mirror is a Ping; lists are invariant


def decode_ping(body: bytes, catalogs: Catalogs) -> Decoded | None:
    """One ping, or None: use the canonical decoder (which also raises the canonical errors)."""
    try:
        loose = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    return _judge([loose], catalogs)


def decode_pings(body: bytes, catalogs: Catalogs) -> Decoded | None:
    """A JSON array of pings, or None: use the canonical decoder."""
    try:
        items = _LIST_DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    return _judge(items, catalogs)
