"""The Kafka record (DESIGN §4): a validated ping plus what the server adds, as msgpack."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

import msgspec

from schemas.ping import AttrValue, Count, FieldKey, Slug

SCHEMA_VERSION: Final = 1


class PingRecord(msgspec.Struct, frozen=True, kw_only=True, array_like=False):
    """What ingest publishes to `census.pings.v1`; never an address, header or user agent."""

    schema: int
    received_at: dt.datetime
    product: Slug
    install_id: uuid.UUID
    event: Slug
    version: str
    platform: str
    os: str
    arch: str
    sent_at: dt.datetime | None = None
    ping_id: uuid.UUID | None = None
    attrs: dict[FieldKey, AttrValue] = {}
    counts: dict[FieldKey, Count] = {}


RECORD_ENCODER: Final = msgspec.msgpack.Encoder()
RECORD_DECODER: Final = msgspec.msgpack.Decoder(PingRecord)


def encode_record(record: PingRecord) -> bytes:
    return RECORD_ENCODER.encode(record)


def decode_record(value: bytes) -> PingRecord:
    """Decode a Kafka value; raises msgspec.DecodeError or msgspec.ValidationError."""
    try:
        return RECORD_DECODER.decode(value)
    except UnicodeDecodeError as exc:
        # msgspec lets a string with invalid UTF-8 escape as UnicodeDecodeError; callers should
        # only have to handle the two msgspec errors.
        raise msgspec.DecodeError(f"invalid UTF-8 in a string: {exc.reason}") from None


def record_key(record: PingRecord) -> bytes:
    """The Kafka key: the install's UUID bytes, so one install's pings stay in one partition."""
    return record.install_id.bytes
