"""MaestroHub: the phone-home report, in the JSON shape Census documents for it (docs/compat.md)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import ENVELOPE_DEFAULT, MAESTROHUB
from schemas.ping import Arch, AttrText, Count, ShortText, UtcTime, Version
from services.ingest.compat import lenient
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
    finish,
    install_uuid,
    sent_at,
)
from services.ingest.compat.structread import StructReader
from services.ingest.validate import Checked, Rejection

PRODUCT: Final = "maestrohub"


class MaestroHubLicense(msgspec.Struct, frozen=True):
    type: AttrText | None = None
    id: str | None = None


class MaestroHubByType(msgspec.Struct, frozen=True):
    total: Count | None = None
    by_type: dict[str, Count] | None = None


class MaestroHubPipelines(msgspec.Struct, frozen=True):
    total: Count | None = None
    enabled: Count | None = None


class MaestroHubUns(msgspec.Struct, frozen=True):
    topics: Count | None = None
    mqtt_clients: Count | None = None
    mqtt_mode: AttrText | None = None
    storage_mode: AttrText | None = None


class MaestroHubExecutions(msgspec.Struct, frozen=True):
    total: Count | None = None
    success: Count | None = None
    failure: Count | None = None


class MaestroHubReport(msgspec.Struct, frozen=True, kw_only=True):
    instance_id: InstanceId
    event: str = "report"
    version: Version | None = None
    os: ShortText | None = None
    arch: Arch | None = None
    license: MaestroHubLicense | None = None
    hostname: str | None = None
    public_ip: str | None = None
    admin_email: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    isp: str | None = None
    users: Count | None = None
    organizations: Count | None = None
    data_models: Count | None = None
    connections: MaestroHubByType | None = None
    pipelines: MaestroHubPipelines | None = None
    nodes: MaestroHubByType | None = None
    uns: MaestroHubUns | None = None
    executions: MaestroHubExecutions | None = None
    uptime_seconds: Count | None = None
    timestamp: UtcTime | int | None = None


def _total(group: MaestroHubByType | None, path: str) -> int | None:
    """The declared total, else the sum of the per-type counts (which are never kept)."""
    if group is None:
        return None
    if group.total is not None:
        return group.total
    if group.by_type is None:
        return None
    total = sum(group.by_type.values())
    if total > 10**12:
        raise Rejection(422, "invalid_ping", path, "the per-type counts add up to more than 10^12")
    return total


_read: Final = StructReader(MaestroHubReport, MAESTROHUB)
"""The report, the values it could not take, and the fields not kept (unknown or by design)."""


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    report, wrong, dropped = _read(body)
    pipelines = report.pipelines or MaestroHubPipelines()
    uns = report.uns or MaestroHubUns()
    executions = report.executions or MaestroHubExecutions()
    counts: dict[str, int | None] = {
        "users": report.users,
        "organizations": report.organizations,
        "data_models": report.data_models,
        "connections_total": _total(report.connections, "$.connections.by_type"),
        "pipelines": pipelines.total,
        "pipelines_enabled": pipelines.enabled,
        "nodes_total": _total(report.nodes, "$.nodes.by_type"),
        "uns_topics": uns.topics,
        "uns_mqtt_clients": uns.mqtt_clients,
        "executions_total": executions.total,
        "executions_success": executions.success,
        "executions_failure": executions.failure,
        "uptime_seconds": report.uptime_seconds,
    }
    attrs: dict[str, Any] = {
        "license_type": report.license.type if report.license else None,
        "uns_mqtt_mode": uns.mqtt_mode,
        "uns_storage_mode": uns.storage_mode,
    }
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, report.instance_id, keep_uuid=False),
        "event": report.event,
        "version": report.version or ENVELOPE_DEFAULT,
        "platform": ENVELOPE_DEFAULT,
        "os": report.os or ENVELOPE_DEFAULT,
        "arch": report.arch or ENVELOPE_DEFAULT,
        "sent_at": sent_at(report.timestamp, "$.timestamp"),
        "attrs": {k: v for k, v in attrs.items() if v is not None},
        "counts": {k: v for k, v in counts.items() if v is not None},
    }
    return lenient.with_wrong(finish([fields], dropped, MAESTROHUB, ctx), PRODUCT, wrong)
