"""The canonical ping (DESIGN §3): the JSON a client sends, decoded by msgspec."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final

import msgspec

SLUG_PATTERN: Final = "^[a-z0-9][a-z0-9-]{0,39}$"
KEY_PATTERN: Final = "^[a-z0-9_][a-z0-9_.-]{0,63}$"
MAX_COUNT: Final = 10**12
UNKNOWN: Final = "unknown"
"""What version, platform, os and arch say when the client did not (DESIGN §3)."""

Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN, description="lower-case slug")]
FieldKey = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN, description="declared attr/count key")]
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Arch = Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
AttrText = Annotated[str, msgspec.Meta(max_length=64)]
AttrValue = AttrText | bool
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
UtcTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


# gc=False: a ping refers only to strings, numbers, UUIDs and dicts of those, never back to
# itself; ingest holds a batch request's thousand of them while the periodic full collection
# (services.common.lifecycle) runs, which traversed each of them (11 % of /v1/batch's samples).
class Ping(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One countable telemetry ping. Unknown top-level fields are ignored, never kept.

    Decoding a body straight into this Struct is the quick path for a ping that is right as it
    is; anything it refuses is read again, field by field, by `schemas.reader` (the tolerant
    reader, which owns the rules and the words of every error)."""

    product: Slug
    install_id: uuid.UUID
    event: Slug
    version: Version = UNKNOWN
    platform: ShortText = UNKNOWN
    os: ShortText = UNKNOWN
    arch: Arch = UNKNOWN
    sent_at: UtcTime | None = None
    ping_id: uuid.UUID | None = None
    attrs: dict[FieldKey, AttrValue] = {}
    counts: dict[FieldKey, Count] = {}


PING_DECODER: Final = msgspec.json.Decoder(Ping)
PING_LIST_DECODER: Final = msgspec.json.Decoder(list[Ping])


def decode_ping(body: bytes) -> Ping:
    """Decode one JSON ping strictly; raises msgspec.DecodeError or msgspec.ValidationError."""
    try:
        return PING_DECODER.decode(body)
    except UnicodeDecodeError as exc:
        # msgspec lets invalid UTF-8 inside a string escape as UnicodeDecodeError.
        raise msgspec.DecodeError(f"invalid UTF-8 at byte {exc.start}") from None
