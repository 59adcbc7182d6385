"""Pulse: the flat `Ping` JSON of rcourtman/Pulse internal/telemetry/telemetry.go."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import PULSE
from schemas.ping import Arch, AttrText, Count, ShortText, Slug, UtcTime, Version
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
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
    """The envelope of a Pulse ping; every other key is routed through pulse.toml."""

    install_id: InstanceId
    event: Slug
    version: Version
    platform: ShortText
    os: ShortText
    arch: Arch
    sent_at: UtcTime | None = None


_ENVELOPE: Final = frozenset(f.encode_name for f in msgspec.structs.fields(PulsePing))


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    raw = require_object(decode_json(body))
    envelope = convert(raw, PulsePing)
    catalog = ctx.catalogs.get(PRODUCT)
    assert catalog is not None, "pulse.toml is a seed catalog"
    attrs: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if key in _ENVELOPE:
            continue
        if key in catalog.attrs:
            if value is not None:
                kind: Any = bool if catalog.attrs[key].type == "bool" else AttrText
                attrs[key] = convert_value(value, kind, f"$.{key}")
        elif key in catalog.counts:
            if value is not None:
                counts[key] = convert_value(value, Count, f"$.{key}")
        else:
            dropped.append(key)
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
