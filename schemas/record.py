"""The Kafka record (DESIGN §4): a validated ping plus what the server adds, as msgpack."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final

import msgspec

from schemas.ping import AttrValue, Count

SCHEMA_VERSION: Final = 1

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A product, event, attr or count name in a record. Not the ingest pattern: a consumer looks each
name up in its catalog, which is stricter, and regex checks were half of the decoding time."""


# gc=False: a record refers to nothing that could refer back to it, and a consumer holds tens of
# thousands of them at once, which the cyclic collector would otherwise keep traversing.
class PingRecord(msgspec.Struct, frozen=True, kw_only=True, array_like=False, gc=False):
    """What ingest publishes to `census.pings.v1`; never an address, header or user agent."""

    schema: int
    received_at: dt.datetime
    product: Name
    install_id: uuid.UUID
    event: Name
    version: str
    platform: str
    os: str
    arch: str
    sent_at: dt.datetime | None = None
    ping_id: uuid.UUID | None = None
    attrs: dict[Name, AttrValue] = {}
    counts: dict[Name, Count] = {}
    id_derived: bool = False
    """`ping_id` was derived by ingest from the ping's content (services/ingest/retryid.py), not
    sent by the client: a repeat of it is a retry only within minutes of its last sighting.
    Absent from records written before it existed, which decode as False."""


RECORD_ENCODER: Final = msgspec.msgpack.Encoder()
RECORD_DECODER: Final = msgspec.msgpack.Decoder(PingRecord)


def encode_record(record: PingRecord) -> bytes:
    return RECORD_ENCODER.encode(record)


NOT_MSGPACK: Final = "the value is not msgpack (or a string in it is not UTF-8)"


def decode_record(value: bytes) -> PingRecord:
    """Decode a Kafka value; raises msgspec.DecodeError (with our words) or ValidationError."""
    try:
        return RECORD_DECODER.decode(value)
    except (UnicodeDecodeError, msgspec.DecodeError):
        # Older msgspec lets invalid UTF-8 escape as UnicodeDecodeError, newer words it its own
        # way: callers get one error with one text, whichever version is installed.
        raise msgspec.DecodeError(NOT_MSGPACK) from None


def record_key(record: PingRecord) -> bytes:
    """The Kafka key: the install's UUID bytes, so one install's pings stay in one partition."""
    return record.install_id.bytes
