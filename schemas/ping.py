"""The canonical ping (DESIGN §3): the JSON a client sends, decoded by msgspec."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final

import msgspec

SLUG_PATTERN: Final = "^[a-z0-9][a-z0-9-]{0,39}$"
KEY_PATTERN: Final = "^[a-z0-9_][a-z0-9_.-]{0,63}$"
MAX_COUNT: Final = 10**12

Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN, description="lower-case slug")]
FieldKey = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN, description="declared attr/count key")]
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Arch = Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
AttrText = Annotated[str, msgspec.Meta(max_length=64)]
AttrValue = AttrText | bool
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
UtcTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class Ping(msgspec.Struct, frozen=True, kw_only=True):
    """One telemetry ping as a client sends it. Unknown top-level fields are ignored, never kept."""

    product: Slug
    install_id: uuid.UUID
    event: Slug
    version: Version
    platform: ShortText
    os: ShortText
    arch: Arch
    sent_at: UtcTime | None = None
    ping_id: uuid.UUID | None = None
    attrs: dict[FieldKey, AttrValue] = {}
    counts: dict[FieldKey, Count] = {}


PING_DECODER: Final = msgspec.json.Decoder(Ping)
PING_LIST_DECODER: Final = msgspec.json.Decoder(list[Ping])


def decode_ping(body: bytes) -> Ping:
    """Decode one JSON ping; raises msgspec.DecodeError or msgspec.ValidationError."""
    try:
        return PING_DECODER.decode(body)
    except UnicodeDecodeError as exc:
        # msgspec lets invalid UTF-8 inside a string escape as UnicodeDecodeError.
        raise msgspec.DecodeError(
            f"invalid UTF-8 at byte {exc.start} of a string: {exc.reason}"
        ) from None
