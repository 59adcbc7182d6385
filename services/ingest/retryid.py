"""An identity for a ping that came without `ping_id`, shared by every retry of it. Pure.

A client whose request got a 503 ("nothing was acknowledged") sends the same body again, but
some of the records behind a 503 still reach Kafka. Without a `ping_id` the aggregator could not
tell the retry from a new ping and counted both. So ingest derives one: a keyed hash of the ping's
canonical content (product, install id, event, envelope, `sent_at`, attrs, counts), never of the
receive time or anything about the request, so the same body received twice gets the same id.
The record says the id is derived (`PingRecord.id_derived`); the aggregator then takes a repeat
for a retry only within minutes of its last sighting (services/aggregator/dedup.py), because two
identical pings hours apart are two pings.

The key is derived from CENSUS_INGEST_ID_SECRET, which every ingest replica shares (a retry may
reach another replica): without it the stored ids could be confirmed against guessed contents.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

import msgspec

from schemas.ping import Ping

_CANONICAL: Final = msgspec.json.Encoder(order="sorted")
_PERSON: Final = b"census-retry-id"


class RetryIds:
    """Derives ping ids under one key: a hasher keyed once, copied per ping (cheaper than keying)."""

    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(_PERSON + b"\x1f" + secret.encode()).digest()  # domain-separated
        self._keyed = hashlib.blake2b(digest_size=16, key=key, person=_PERSON)

    def derive(self, ping: Ping) -> uuid.UUID:
        """The ping's content id: equal for equal pings (whatever the JSON's key order or
        spacing), marked as a version 8 (custom) UUID."""
        hasher = self._keyed.copy()
        hasher.update(_CANONICAL.encode(ping))  # sorted fields and keys: one encoding per value
        digest = bytearray(hasher.digest())
        digest[6] = (digest[6] & 0x0F) | 0x80
        digest[8] = (digest[8] & 0x3F) | 0x80
        return msgspec.convert(bytes(digest), uuid.UUID)  # in C: a third of uuid.UUID(bytes=)
