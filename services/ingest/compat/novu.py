"""Novu: the hourly keep-alive beacon and the usage report of a self-hosted instance."""

from __future__ import annotations

from typing import Final

import msgspec

from schemas.compat import ENVELOPE_DEFAULT, NOVU_BEACON, NOVU_USAGE
from schemas.ping import AttrText, Count, ShortText, UtcTime
from services.ingest.compat.common import (
    CompatContext,
    convert,
    decode_json,
    dropped_by_design,
    finish,
    install_uuid,
    require_object,
    sent_at,
    unknown_fields,
)
from services.ingest.validate import Checked, Rejection

PRODUCT: Final = "novu"
_MB: Final = 1024 * 1024

Bytes = int | float
Timestamp = UtcTime | int | None


class NovuBeacon(msgspec.Struct, frozen=True, rename="camel"):
    instance_id: str
    platform: ShortText | None = None
    release: AttrText | None = None
    free_memory: Bytes | None = None
    total_memory: Bytes | None = None
    timestamp: Timestamp = None
    hostname: str | None = None
    ip_address: str | None = None


class NovuIntegration(msgspec.Struct, frozen=True, rename="camel"):
    provider_id: str | None = None
    count: Count = 0


class NovuUsage(msgspec.Struct, frozen=True, rename="camel"):
    instance_id: str | None = None
    event_count: Count | None = None
    integration_count: list[NovuIntegration] | None = None
    org_count: Count | None = None
    subscriber_count: Count | None = None
    topic_count: Count | None = None
    total_steps: Count | None = None
    user_count: Count | None = None
    workflow_count: Count | None = None
    timestamp: Timestamp = None


def _megabytes(value: Bytes | None, path: str) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise Rejection(422, "invalid_ping", path, "Expected a number of bytes >= 0")
    return int(value // _MB)


def adapt_beacon(body: bytes, ctx: CompatContext) -> Checked:
    raw = require_object(decode_json(body))
    beacon = convert(raw, NovuBeacon)
    counts = {
        "free_memory_mb": _megabytes(beacon.free_memory, "$.freeMemory"),
        "total_memory_mb": _megabytes(beacon.total_memory, "$.totalMemory"),
    }
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, beacon.instance_id, keep_uuid=False),
        "event": "beacon",
        "version": ENVELOPE_DEFAULT,
        "platform": ENVELOPE_DEFAULT,
        "os": beacon.platform or ENVELOPE_DEFAULT,
        "arch": ENVELOPE_DEFAULT,
        "sent_at": sent_at(beacon.timestamp, "$.timestamp"),
        "attrs": {"os_release": beacon.release} if beacon.release else {},
        "counts": {k: v for k, v in counts.items() if v is not None},
    }
    dropped = unknown_fields(raw, NovuBeacon) + dropped_by_design(raw, NOVU_BEACON)
    return finish([fields], dropped, NOVU_BEACON, ctx)


def adapt_usage(body: bytes, ctx: CompatContext) -> Checked:
    raw = require_object(decode_json(body))
    usage = convert(raw, NovuUsage)
    if not usage.instance_id:
        raise Rejection(
            422,
            "invalid_ping",
            "$.instanceId",
            "Object missing required field `instanceId`: a usage report is counted per instance",
        )
    counts: dict[str, int | None] = {
        "event_count": usage.event_count,
        "org_count": usage.org_count,
        "subscriber_count": usage.subscriber_count,
        "topic_count": usage.topic_count,
        "total_steps": usage.total_steps,
        "user_count": usage.user_count,
        "workflow_count": usage.workflow_count,
    }
    if usage.integration_count is not None:
        counts["integration_count"] = sum(i.count for i in usage.integration_count)
        providers = {i.provider_id for i in usage.integration_count if i.provider_id}
        counts["integration_providers"] = len(providers)
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, usage.instance_id, keep_uuid=False),
        "event": "usage",
        "version": ENVELOPE_DEFAULT,
        "platform": ENVELOPE_DEFAULT,
        "os": ENVELOPE_DEFAULT,
        "arch": ENVELOPE_DEFAULT,
        "sent_at": sent_at(usage.timestamp, "$.timestamp"),
        "counts": {k: v for k, v in counts.items() if v is not None},
    }
    dropped = unknown_fields(raw, NovuUsage) + dropped_by_design(raw, NOVU_USAGE)
    return finish([fields], dropped, NOVU_USAGE, ctx)
