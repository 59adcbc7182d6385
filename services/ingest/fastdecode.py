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
import typing
from typing import Annotated, Any, Final

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import KEY_PATTERN, SLUG_PATTERN, AttrValue, Count, FieldKey, Ping, Slug

_KEY: Final = re.compile(KEY_PATTERN)
_SLUG: Final = re.compile(SLUG_PATTERN)
_LooseSlug = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
_LooseKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


def _loosen(kind: Any) -> Any:
    if kind == Slug:
        return _LooseSlug
    if kind == dict[FieldKey, AttrValue]:
        return dict[_LooseKey, AttrValue]
    if kind == dict[FieldKey, Count]:
        return dict[_LooseKey, Count]
    return kind


def _mirror() -> type[msgspec.Struct]:
    hints = typing.get_type_hints(Ping, include_extras=True)
    fields: list[Any] = []
    for name in Ping.__struct_fields__:
        default = getattr(Ping, "__struct_defaults__", ())
        index = Ping.__struct_fields__.index(name) - (len(Ping.__struct_fields__) - len(default))
        kind = _loosen(hints[name])
        fields.append((name, kind, default[index]) if index >= 0 else (name, kind))
    return msgspec.defstruct("Ping", fields, frozen=True, kw_only=True)


_MIRROR: Final = _mirror()
_DECODER: Final = msgspec.json.Decoder(_MIRROR)
_LIST_DECODER: Final = msgspec.json.Decoder(list[_MIRROR])  # type: ignore[valid-type]
_FIELDS: Final = Ping.__struct_fields__


def _as_ping(loose: Any, catalogs: Catalogs) -> Ping | None:
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
    return Ping(**{name: getattr(loose, name) for name in _FIELDS})


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
