"""The response bodies of the public routes, as msgspec Structs (also the OpenAPI schemas)."""

from __future__ import annotations

from typing import Final

import msgspec


class Accepted(msgspec.Struct, frozen=True):
    """202: every ping of the request was acknowledged by Kafka. A field that was dropped or
    replaced (counted as `other`/`unknown`) is listed in `dropped_fields`, and why in `reasons`."""

    accepted: int
    dropped_fields: list[str]
    reasons: dict[str, str] = {}


class Error(msgspec.Struct, frozen=True):
    """Any 4xx or 503: a code from a fixed set, the JSON path (`$[3].counts.vms`) and the rule."""

    error: str
    path: str
    reason: str


ENCODER: Final = msgspec.json.Encoder()
ACCEPTED_ONE: Final = ENCODER.encode(Accepted(1, []))
"""The reply to most requests (one ping, nothing dropped), encoded once."""
