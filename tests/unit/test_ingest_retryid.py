"""Derived ping ids (services.ingest.retryid): what a retry shares and what tells pings apart."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import msgspec

from schemas.catalog import load_catalogs
from schemas.record import PingRecord
from services.ingest.retryid import RetryIds
from services.ingest.validate import parse_ping, to_record

CATALOGS = load_catalogs()
KEY = RetryIds("a-secret")
AT = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
PING = {
    "product": "pulse",
    "install_id": "0dcd9893-3e7b-4651-8ab4-4a962b635397",
    "event": "heartbeat",
    "version": "5.1.14",
    "platform": "docker",
    "os": "linux",
    "arch": "amd64",
    "attrs": {"ai_enabled": True, "deployment_method": "docker_compose"},
    "counts": {"vms": 25, "containers": 12},
}


def record_of(body: bytes, at: dt.datetime = AT, key: RetryIds = KEY) -> PingRecord:
    (ping,) = parse_ping(body, CATALOGS).pings
    return to_record(ping, at, key)


def test_a_retry_of_the_same_body_gets_the_same_id_whenever_it_is_received() -> None:
    body = json.dumps(PING).encode()
    first, retry = record_of(body), record_of(body, AT + dt.timedelta(minutes=3))
    assert first.id_derived and retry.id_derived
    assert first.ping_id == retry.ping_id


def test_key_order_and_spacing_do_not_change_the_id() -> None:
    reordered = dict(reversed(list(PING.items())))
    reordered["counts"] = {"containers": 12, "vms": 25}
    a = record_of(json.dumps(PING).encode())
    b = record_of(json.dumps(reordered, indent=2).encode())
    assert a.ping_id == b.ping_id


def test_any_change_of_content_or_key_gives_another_id() -> None:
    base = record_of(json.dumps(PING).encode()).ping_id
    changes = [
        {**PING, "counts": {"vms": 26, "containers": 12}},
        {**PING, "attrs": {"ai_enabled": False, "deployment_method": "docker_compose"}},
        {**PING, "attrs": {"ai_enabled": True}},
        {**PING, "event": "startup"},
        {**PING, "install_id": str(uuid.UUID(int=7))},
        {**PING, "sent_at": "2026-11-23T11:59:59Z"},
    ]
    ids = {record_of(json.dumps(c).encode()).ping_id for c in changes}
    other_key = record_of(json.dumps(PING).encode(), key=RetryIds("another")).ping_id
    assert base not in ids | {other_key}
    assert len(ids) == len(changes)


def test_a_client_ping_id_is_kept_and_not_marked_derived() -> None:
    ping_id = uuid.uuid4()
    record = record_of(json.dumps({**PING, "ping_id": str(ping_id)}).encode())
    assert (record.ping_id, record.id_derived) == (ping_id, False)


def test_a_derived_id_is_a_version_8_uuid() -> None:
    (ping,) = parse_ping(json.dumps(PING).encode(), CATALOGS).pings
    assert KEY.derive(ping).version == 8


def test_a_derived_id_stays_the_keyed_hash_of_the_sorted_encoding() -> None:
    """Records already in Kafka carry derived ids: a retry must get the same one after an
    upgrade, so the derivation (key, encoding, hash, UUID bits) may never change."""
    (ping,) = parse_ping(json.dumps(PING).encode(), CATALOGS).pings
    key = hashlib.sha256(b"census-retry-id\x1fa-secret").digest()
    hasher = hashlib.blake2b(digest_size=16, key=key, person=b"census-retry-id")
    hasher.update(msgspec.json.Encoder(order="sorted").encode(ping))
    digest = bytearray(hasher.digest())
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    derived = KEY.derive(ping)
    assert type(derived) is uuid.UUID
    assert derived == uuid.UUID(bytes=bytes(digest))
