"""Pulse: the flat `Ping` JSON of rcourtman/Pulse internal/telemetry/telemetry.go, from its first
public schema (the v6 release) to schema_version 10."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import PULSE, PULSE_FREE_TIER, PULSE_PAID_TIERS, PULSE_RENAMED
from schemas.ping import Arch, Count, ShortText, UtcTime, Version
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
    decode_json,
    finish,
    install_uuid,
    require_object,
)
from services.ingest.validate import Checked

PRODUCT: Final = "pulse"
_ENVELOPE: Final = ("event", "version", "platform", "os", "arch", "sent_at")


class PulsePing(msgspec.Struct, frozen=True, kw_only=True):
    """The envelope of a Pulse ping, and the two keys of the first public schema that later ones
    replaced by booleans; every other key is routed through pulse.toml. The documented shape
    (OpenAPI): the adapter hands every value to the tolerant reader as sent."""

    install_id: InstanceId
    event: str
    version: Version | None = None
    platform: ShortText | None = None
    os: ShortText | None = None
    arch: Arch | None = None
    sent_at: UtcTime | None = None
    license_tier: str | None = None
    api_tokens: Count | None = None


PulseBody: Final = msgspec.defstruct(
    "PulseBody",
    [
        (key, (bool if target.startswith("attrs.") else Count) | None, None)
        for key, target in PULSE_RENAMED.items()
    ],
    bases=(PulsePing,),
    frozen=True,
    kw_only=True,
)
"""The documented body: the envelope plus the keys Census renames (the rest pass through)."""

_READ: Final = frozenset(f.encode_name for f in msgspec.structs.fields(PulsePing))
_FIRST_SCHEMA: Final = ("license_tier", "api_tokens")


def _first_schema(raw: dict[str, Any], attrs: dict[str, Any], dropped: list[str]) -> None:
    """paid_license and has_api_tokens from license_tier and api_tokens, unless sent as such.
    A value of the wrong type sets nothing and is listed as dropped: it never costs the ping."""
    tier, tokens = raw.get("license_tier"), raw.get("api_tokens")
    if tier is not None and not isinstance(tier, str):
        dropped.append("license_tier")
    elif tier is not None and "paid_license" not in attrs:
        if tier.strip() == PULSE_FREE_TIER:
            attrs["paid_license"] = False
        elif tier.strip() in PULSE_PAID_TIERS:
            attrs["paid_license"] = True
    counted = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0
    if tokens is not None and not counted:
        dropped.append("api_tokens")
    elif tokens is not None and "has_api_tokens" not in attrs:
        attrs["has_api_tokens"] = tokens > 0


def _install_id(ctx: CompatContext, raw: dict[str, Any]) -> Any:
    """A UUID kept, another string keyed; anything else goes to the reader, which refuses it.
    An empty string is no id (every empty one would be the same install): missing."""
    value = raw.get("install_id")
    if isinstance(value, str) and value.strip():
        return install_uuid(ctx, PRODUCT, value, keep_uuid=True)
    return None if isinstance(value, str) else value


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    """Every value goes to the tolerant reader as sent: a wrong one costs that field alone."""
    raw = require_object(decode_json(body))
    catalog = ctx.catalogs.get(PRODUCT)
    assert catalog is not None, "pulse.toml is a seed catalog"
    attrs: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if key in _READ or value is None:
            continue
        renamed = PULSE_RENAMED.get(key)
        name = renamed.partition(".")[2] if renamed else key
        if name in catalog.attrs:
            attrs[name] = value
        elif name in catalog.counts:
            counts[name] = value
        else:
            dropped.append(key)
    _first_schema(raw, attrs, dropped)
    fields: dict[str, Any] = {
        "product": PRODUCT,
        "install_id": _install_id(ctx, raw),
        **{k: raw[k] for k in _ENVELOPE if raw.get(k) is not None},
        "attrs": attrs,
        "counts": counts,
    }
    return finish([fields], dropped, PULSE, ctx)
