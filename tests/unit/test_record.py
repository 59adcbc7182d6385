"""The Kafka record: msgpack round trip, key, and nothing but declared fields."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

from schemas.record import (
    NOT_MSGPACK,
    SCHEMA_VERSION,
    PingRecord,
    decode_record,
    encode_record,
    record_key,
)


def make_record() -> PingRecord:
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=dt.datetime(2026, 11, 23, 12, 0, 1, 250000, tzinfo=dt.UTC),
        product="pulse",
        install_id=uuid.UUID(int=42),
        event="startup",
        version="5.0.0",
        platform="docker",
        os="linux",
        arch="arm64",
        ping_id=uuid.UUID(int=9),
        attrs={"ai_enabled": False},
        counts={"vms": 3},
    )


def test_round_trip_is_exact() -> None:
    record = make_record()
    assert decode_record(encode_record(record)) == record


def test_key_is_the_install_uuid_bytes() -> None:
    assert record_key(make_record()) == uuid.UUID(int=42).bytes


def test_encoded_record_has_only_contract_fields() -> None:
    decoded = msgspec.msgpack.decode(encode_record(make_record()))
    assert set(decoded) == {
        "schema", "received_at", "product", "install_id", "event", "version", "platform",
        "os", "arch", "sent_at", "ping_id", "attrs", "counts", "id_derived",
    }  # fmt: skip


def test_a_record_written_before_id_derived_existed_still_decodes() -> None:
    fields = msgspec.msgpack.decode(encode_record(make_record()))
    del fields["id_derived"]
    old = msgspec.msgpack.encode(fields)
    assert decode_record(old) == make_record()
    assert decode_record(old).id_derived is False


def test_garbage_value_is_rejected() -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_record(b"\x81\xa4nope\x01")


def test_invalid_utf8_in_a_string_is_a_decode_error() -> None:
    value = encode_record(make_record()).replace(b"\xa5pulse", b"\xa5pul\xffe")
    with pytest.raises(msgspec.DecodeError) as info:
        decode_record(value)
    assert str(info.value) == NOT_MSGPACK  # our words, whichever msgspec is installed


def test_a_record_without_the_optional_envelope_fields_of_old_still_decodes() -> None:
    # Records written before version/platform/os/arch became optional on the wire carry them;
    # records written since always do too (ingest writes "unknown"): both decode.
    assert decode_record(encode_record(make_record())).version == "5.0.0"
