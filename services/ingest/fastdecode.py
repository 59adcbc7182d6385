"""A quicker decode of the canonical Ping for the common case: a ping its catalog takes exactly
as it is. The tolerant reader (`schemas.reader`) stays the authority.

msgspec checks `Meta(pattern=...)` with Python's `re`, once per attrs/counts key: for a Pulse
ping that is most of the decode time. Keys the catalog declares match the pattern by
construction (the catalog loader enforces it), so the mirror Struct here checks lengths only,
and `is_clean` then asks that every name be declared and every value be kept as it is. Anything
else (a type error, an undeclared key, a value outside its list) returns None, and the body is
read again, field by field, by the tolerant reader: one set of rules, tested equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, cast

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import AttrValue, Count, Ping
from schemas.reader import is_clean, read_time

_LooseSlug = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
_LooseKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Mirror(Ping, frozen=True, kw_only=True, gc=False):
    """A Ping (a subclass, so no copy is needed) whose names are only length-checked."""

    product: _LooseSlug
    event: _LooseSlug
    attrs: dict[_LooseKey, AttrValue] = msgspec.field(default_factory=dict)
    counts: dict[_LooseKey, Count] = msgspec.field(default_factory=dict)


_DECODER: Final = msgspec.json.Decoder(_Mirror)
_DECODER_LIST: Final = msgspec.json.Decoder(list[_Mirror])


def _all_clean(items: list[_Mirror], catalogs: Catalogs) -> list[Ping] | None:
    for loose in items:
        if not is_clean(loose, catalogs):
            return None  # the tolerant reader says what to drop, replace or refuse, and why
    return cast(list[Ping], items)  # a _Mirror is a Ping; lists are invariant


def decode_ping(body: bytes, catalogs: Catalogs) -> list[Ping] | None:
    """The one ping, if the catalog takes it exactly as it is; None: read it the tolerant way."""
    try:
        loose = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: msgspec skips an ignored field by recursing, so deep nesting anywhere
        # stops it; the untyped path answers such a body with a 400.
        return None
    return _all_clean([loose], catalogs)


def decode_pings(body: bytes, catalogs: Catalogs) -> list[Ping] | None:
    """A JSON array of pings, if the catalog takes each exactly as it is; else None."""
    try:
        items = _DECODER_LIST.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return _all_clean(items, catalogs)


_PING_FIELDS: Final = frozenset(f.name for f in msgspec.structs.fields(Ping))


def convert_ping(fields: Mapping[str, Any], catalogs: Catalogs) -> Ping | None:
    """The ping `schemas.reader.read_ping(fields)` would make, if it would take `fields` exactly
    as they are (the compat adapters' quick path); None: read them the tolerant way.

    `sent_at` is read by the reader's own `read_time` first, so a string is taken exactly as the
    reader takes it (msgspec's convert would accept forms the reader refuses, or the reverse)."""
    if not fields.keys() <= _PING_FIELDS:
        return None  # a key the reader does not read: let it decide
    sent = fields.get("sent_at")
    if sent is not None:
        moment = read_time(sent)
        if moment is None:
            return None
        if moment is not sent:  # an aware datetime is read as it is: no copy then
            fields = {**fields, "sent_at": moment}
    try:
        loose = msgspec.convert(fields, _Mirror)
    except (msgspec.ValidationError, RecursionError):
        return None
    return loose if is_clean(loose, catalogs) else None
