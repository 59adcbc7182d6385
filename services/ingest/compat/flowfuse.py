"""FlowFuse: the nested usage ping of forge/housekeeper/tasks/telemetryMetrics.js."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.compat import ENVELOPE_DEFAULT, FLOWFUSE
from schemas.ping import AttrText, Count
from services.ingest.compat import lenient
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
    finish,
    install_uuid,
)
from services.ingest.compat.names import arch_name, os_name
from services.ingest.compat.structread import StructReader
from services.ingest.validate import Checked

PRODUCT: Final = "flowfuse"
DRIVERS: Final = frozenset({"localfs", "docker", "kubernetes", "stub"})
LICENSE_ID: Final = "platform.license.id"


class FlowFuseOs(msgspec.Struct, frozen=True):
    type: AttrText | None = None
    release: AttrText | None = None
    arch: AttrText | None = None


class FlowFuseEnv(msgspec.Struct, frozen=True):
    nodejs: AttrText | None = None
    flowforge: AttrText | None = None


class FlowFuseProjectsByState(msgspec.Struct, frozen=True):
    suspended: Count | None = None


class FlowFuseDevicesByLastSeen(msgspec.Struct, frozen=True):
    never: Count | None = None
    day: Count | None = None


class FlowFuseCounts(msgspec.Struct, frozen=True, rename="camel"):
    users: Count | None = None
    teams: Count | None = None
    projects: Count | None = None
    projects_by_state: FlowFuseProjectsByState | None = None
    devices: Count | None = None
    devices_by_last_seen: FlowFuseDevicesByLastSeen | None = None
    project_snapshots: Count | None = None
    project_templates: Count | None = None
    project_stacks: Count | None = None
    library_entries: Count | None = None
    shared_library_entries: Count | None = None
    blueprints: Count | None = None
    team_broker_clients: Count | None = None
    remote_brokers: Count | None = None


class FlowFuseEnabled(msgspec.Struct, frozen=True):
    enabled: bool | None = None


class FlowFuseConfig(msgspec.Struct, frozen=True, rename="camel"):
    driver: AttrText | None = None
    broker: FlowFuseEnabled | None = None
    file_store: FlowFuseEnabled | None = None
    email: FlowFuseEnabled | None = None


class FlowFuseLicense(msgspec.Struct, frozen=True):
    id: str | None = None
    type: AttrText | None = None


class FlowFusePlatform(msgspec.Struct, frozen=True):
    counts: FlowFuseCounts | None = None
    config: FlowFuseConfig | None = None
    license: FlowFuseLicense | None = None


class FlowFusePing(msgspec.Struct, frozen=True, rename={"instance_id": "instanceId"}):
    instance_id: InstanceId
    os: FlowFuseOs | None = None
    env: FlowFuseEnv | None = None
    platform: FlowFusePlatform | None = None


_SIMPLE_COUNTS: Final = (
    "users",
    "teams",
    "projects",
    "devices",
    "project_snapshots",
    "project_templates",
    "project_stacks",
    "library_entries",
    "shared_library_entries",
    "blueprints",
    "team_broker_clients",
    "remote_brokers",
)


def _counts(counts: FlowFuseCounts | None) -> dict[str, int | None]:
    if counts is None:
        return {}
    out: dict[str, int | None] = {name: getattr(counts, name) for name in _SIMPLE_COUNTS}
    if counts.projects_by_state is not None:
        out["projects_suspended"] = counts.projects_by_state.suspended
    if counts.devices_by_last_seen is not None:
        out["devices_never_seen"] = counts.devices_by_last_seen.never
        out["devices_seen_last_day"] = counts.devices_by_last_seen.day
    return out


_read: Final = StructReader(FlowFusePing, FLOWFUSE)
"""The ping, the values it could not take, and the fields not kept (unknown or by design)."""


def _enabled(flag: FlowFuseEnabled | None) -> bool | None:
    return None if flag is None else flag.enabled


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    ping, wrong, dropped = _read(body)
    os_, env = ping.os or FlowFuseOs(), ping.env or FlowFuseEnv()
    platform = ping.platform or FlowFusePlatform()
    config = platform.config or FlowFuseConfig()
    license_ = platform.license or FlowFuseLicense()
    driver = (
        None if config.driver is None else config.driver if config.driver in DRIVERS else "other"
    )
    attrs: dict[str, Any] = {
        "nodejs_version": env.nodejs,
        "os_release": os_.release,
        "driver": driver,
        "broker_enabled": _enabled(config.broker),
        "file_store_enabled": _enabled(config.file_store),
        "email_enabled": _enabled(config.email),
        "license_type": license_.type,
    }
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, ping.instance_id, keep_uuid=True),
        "event": "ping",
        "version": env.flowforge or ENVELOPE_DEFAULT,
        "platform": driver or ENVELOPE_DEFAULT,
        "os": os_name(os_.type) or ENVELOPE_DEFAULT,
        "arch": arch_name(os_.arch) or ENVELOPE_DEFAULT,
        "attrs": {k: v for k, v in attrs.items() if v is not None},
        "counts": {k: v for k, v in _counts(platform.counts).items() if v is not None},
    }
    if not (license_.id or "").strip():
        # Community installs send `license.id: ""` (`app.license.get('id') || ''`): nothing to drop.
        dropped = [path for path in dropped if path != LICENSE_ID]
    return lenient.with_wrong(finish([fields], dropped, FLOWFUSE, ctx), PRODUCT, wrong)
