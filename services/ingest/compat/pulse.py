"""Pulse: the flat `Ping` JSON of rcourtman/Pulse internal/telemetry/telemetry.go, from its first
public schema (the v6 release) to schema_version 10."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import PULSE, PULSE_FREE_TIER, PULSE_PAID_TIERS, PULSE_RENAMED
from schemas.ping import Arch, Count, ShortText, UtcTime, Version
from services.ingest.compat import pulsequick
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
    decode_json,
    finish,
    install_uuid,
    require_object,
)
from services.ingest.compat.pulseroutes import ENVELOPE, routes_of
from services.ingest.validate import Checked

PRODUCT: Final = "pulse"


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


def _take(raw: dict[str, Any], keys: frozenset[str], renamed: dict[str, str]) -> dict[str, Any]:
    """The non-null values of `keys` in `raw`, under their catalog names."""
    present = raw.keys() & keys
    taken = dict(zip(present, map(raw.__getitem__, present), strict=True))  # C-level calls
    if None in taken.values():
        taken = {key: value for key, value in taken.items() if value is not None}
    for key in renamed.keys() & taken.keys():
        taken[renamed[key]] = taken.pop(key)
    return taken


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    """A body the catalog takes as it is goes the quick way (pulsequick); in any other, every
    value goes to the tolerant reader as sent: a wrong one costs that field alone."""
    catalog = ctx.catalogs.get(PRODUCT)
    assert catalog is not None, "pulse.toml is a seed catalog"
    quick = pulsequick.ping(body, ctx, catalog)
    if quick is not None:
        return Checked([quick], [])
    raw = require_object(decode_json(body))
    routes = routes_of(catalog)
    attrs = _take(raw, routes.attrs, routes.renamed)
    counts = _take(raw, routes.counts, routes.renamed)
    # In the order sent (the reply lists them so); a null is no value, not an unknown field.
    dropped = [k for k in raw.keys() - routes.known if raw[k] is not None]
    if len(dropped) > 1:
        order = {key: index for index, key in enumerate(raw)}
        dropped.sort(key=order.__getitem__)
    _first_schema(raw, attrs, dropped)
    fields: dict[str, Any] = {
        "product": PRODUCT,
        "install_id": _install_id(ctx, raw),
        **{k: raw[k] for k in ENVELOPE[1:] if raw.get(k) is not None},
        "attrs": attrs,
        "counts": counts,
    }
    return finish([fields], dropped, PULSE, ctx)
