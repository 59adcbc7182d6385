"""Pulse: the flat `Ping` JSON of rcourtman/Pulse internal/telemetry/telemetry.go, from its first
public schema (the v6 release) to schema_version 10."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import PULSE, PULSE_FREE_TIER, PULSE_PAID_TIERS, PULSE_RENAMED
from schemas.ping import Arch, AttrText, Count, ShortText, UtcTime, Version
from services.ingest.compat.common import (
    CompatContext,
    convert,
    convert_value,
    decode_json,
    finish,
    install_uuid,
    require_object,
)
from services.ingest.validate import Checked

PRODUCT: Final = "pulse"


class PulsePing(msgspec.Struct, frozen=True, kw_only=True):
    """The envelope of a Pulse ping, and the two keys of the first public schema that later ones
    replaced by booleans; every other key is routed through pulse.toml."""

    install_id: str
    event: str
    version: Version
    platform: ShortText
    os: ShortText
    arch: Arch
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


def _first_schema(old: PulsePing, attrs: dict[str, Any]) -> None:
    """paid_license and has_api_tokens from license_tier and api_tokens, unless sent as such."""
    if "paid_license" not in attrs and old.license_tier is not None:
        tier = old.license_tier.strip()
        if tier == PULSE_FREE_TIER:
            attrs["paid_license"] = False
        elif tier in PULSE_PAID_TIERS:
            attrs["paid_license"] = True
    if "has_api_tokens" not in attrs and old.api_tokens is not None:
        attrs["has_api_tokens"] = old.api_tokens > 0


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    raw = require_object(decode_json(body))
    envelope = convert(raw, PulsePing)
    catalog = ctx.catalogs.get(PRODUCT)
    assert catalog is not None, "pulse.toml is a seed catalog"
    attrs: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if key in _READ:
            continue
        renamed = PULSE_RENAMED.get(key)
        name = renamed.partition(".")[2] if renamed else key
        if name in catalog.attrs:
            if value is not None:
                kind: Any = bool if catalog.attrs[name].type == "bool" else AttrText
                attrs[name] = convert_value(value, kind, f"$.{key}")
        elif name in catalog.counts:
            if value is not None:
                counts[name] = convert_value(value, Count, f"$.{key}")
        else:
            dropped.append(key)
    _first_schema(envelope, attrs)
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, envelope.install_id, keep_uuid=True),
        "event": envelope.event,
        "version": envelope.version,
        "platform": envelope.platform,
        "os": envelope.os,
        "arch": envelope.arch,
        "sent_at": envelope.sent_at,
        "attrs": attrs,
        "counts": counts,
    }
    return finish([fields], dropped, PULSE, ctx)
