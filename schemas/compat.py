"""What the compatibility endpoints do with each upstream field: kept, dropped or derived.

Declarative and import-free of the services: the ingest adapters consult it (which fields to
report as dropped, how to name an upstream field in an error) and `schemas.fieldtable` renders it
into docs/fields.md, so the public table and the gateway cannot disagree.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Final


class Fate(enum.StrEnum):
    KEPT = "kept"
    """Published unchanged (or only renamed) under the Census field named in `targets`."""
    DROPPED = "dropped"
    """Removed on arrival: never published, stored or logged."""
    DERIVED = "derived"
    """Not published itself; Census publishes a value computed from it (a keyed hash, a unit
    conversion, a category, a total)."""


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One upstream field (dotted path into the product's JSON body) and its fate."""

    upstream: str
    fate: Fate
    targets: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class CompatMapping:
    """One compatibility endpoint: the route, the product catalog it feeds, every known field."""

    product: str
    route: str
    title: str
    source: str
    fields: tuple[FieldMapping, ...]
    passthrough: str = ""
    """If set: any other top-level key the catalog declares is kept under the same name."""

    def row(self, upstream: str) -> FieldMapping | None:
        for mapping in self.fields:
            if mapping.upstream == upstream:
                return mapping
        return None

    def upstream_of(self, target: str) -> str | None:
        """The upstream field a Census field (`attrs.driver`, `os`) was made from."""
        for mapping in self.fields:
            if target in mapping.targets:
                return mapping.upstream
        if self.passthrough and target.startswith(("attrs.", "counts.")):
            return target.split(".", 1)[1]
        return None

    dropped: tuple[str, ...] = dataclasses.field(init=False, compare=False)
    """The upstream fields dropped by design (computed once: it is read on every request)."""

    dropped_parts: tuple[tuple[str, tuple[str, ...]], ...] = dataclasses.field(
        init=False, compare=False
    )
    """Each of `dropped` with its dotted path split."""

    def __post_init__(self) -> None:
        dropped = tuple(m.upstream for m in self.fields if m.fate is Fate.DROPPED)
        object.__setattr__(self, "dropped", dropped)
        parts = tuple((path, tuple(path.split("."))) for path in dropped)
        object.__setattr__(self, "dropped_parts", parts)


def _k(upstream: str, *targets: str, note: str = "") -> FieldMapping:
    return FieldMapping(upstream, Fate.KEPT, targets, note)


def _d(upstream: str, note: str) -> FieldMapping:
    return FieldMapping(upstream, Fate.DROPPED, (), note)


def _x(upstream: str, *targets: str, note: str) -> FieldMapping:
    return FieldMapping(upstream, Fate.DERIVED, targets, note)


KEYED_IF_NOT_UUID: Final = (
    "a UUID is kept; anything else is replaced by a keyed hash (HMAC-SHA256 with "
    "CENSUS_INGEST_ID_SECRET) shaped as a UUID"
)
KEYED_ALWAYS: Final = (
    "always replaced by a keyed hash (HMAC-SHA256 with CENSUS_INGEST_ID_SECRET) shaped as a UUID, "
    "because upstream does not document it as random; one install still counts as one"
)

PULSE_RENAMED: Final = {
    "pulse_intelligence_patrol_control_paid_completed_operations_loop_30d": (
        "attrs.pulse_intelligence_patrol_control_paid_completed_ops_loop_30d"
    ),
    "pulse_intelligence_patrol_control_paid_resolved_operations_loop_30d": (
        "attrs.pulse_intelligence_patrol_control_paid_resolved_ops_loop_30d"
    ),
    "pulse_intelligence_pro_activation_paid_completed_operations_loop_30d": (
        "attrs.pulse_intelligence_pro_activation_paid_completed_ops_loop_30d"
    ),
    "pulse_intelligence_pro_activation_paid_resolved_operations_loop_30d": (
        "attrs.pulse_intelligence_pro_activation_paid_resolved_ops_loop_30d"
    ),
    "pulse_intelligence_external_agent_approved_action_success_loop_30d": (
        "attrs.pulse_intelligence_ext_agent_approved_action_success_loop_30d"
    ),
    "pulse_intelligence_assistant_operations_loop_starter_requests_30d": (
        "counts.pulse_intelligence_assistant_ops_loop_starter_requests_30d"
    ),
    "pulse_intelligence_patrol_control_operations_loop_starter_requests_30d": (
        "counts.pulse_intelligence_patrol_control_ops_loop_starter_requests_30d"
    ),
    "pulse_intelligence_pro_activation_operations_loop_starter_requests_30d": (
        "counts.pulse_intelligence_pro_activation_ops_loop_starter_requests_30d"
    ),
}
"""Pulse keys longer than a Census key may be (64 characters) → the Census field they fill."""

PULSE_PAID_TIERS: Final = (
    "relay",
    "pro",
    "pro_plus",
    "pro_annual",
    "lifetime",
    "cloud",
    "msp",
    "enterprise",
)
"""pkg/licensing Tier values other than `free` (Pulse's own rule: paid = tier != free)."""
PULSE_FREE_TIER: Final = "free"

PULSE: Final = CompatMapping(
    product="pulse",
    route="/compat/pulse/v1/telemetry/ping",
    title="Pulse",
    source="rcourtman/Pulse internal/telemetry/telemetry.go (Ping), schema_version 10 and the "
    "first public schema of the v6 release",
    passthrough="every other key declared in pulse.toml (attrs and counts, same snake_case name)",
    fields=(
        _x("install_id", "install_id", note=KEYED_IF_NOT_UUID),
        _k("event", "event", note="startup or heartbeat"),
        _k(
            "version",
            "version",
            note="release builds of the first schema send v6.0.0, newer ones 6.0.0: one "
            "leading v is stripped, so both are one version",
        ),
        _k("platform", "platform", note="docker or binary"),
        _k("os", "os", note="runtime.GOOS"),
        _k("arch", "arch", note="runtime.GOARCH"),
        _k("sent_at", "sent_at", note="schema 2+; RFC 3339"),
        *(
            _k(upstream, target, note="renamed: a Census key is at most 64 characters")
            for upstream, target in PULSE_RENAMED.items()
        ),
        _x(
            "license_tier",
            "attrs.paid_license",
            note="first schema only: paid_license is false for free, true for "
            + ", ".join(PULSE_PAID_TIERS)
            + " (Pulse's rule: any tier but free); any other value sets nothing; the tier "
            "itself is never stored; ignored when paid_license is sent",
        ),
        _x(
            "api_tokens",
            "attrs.has_api_tokens",
            note="first schema only: has_api_tokens is true when the count is above 0; the "
            "count itself is never stored; ignored when has_api_tokens is sent",
        ),
    ),
)

PROXMOX_SCRIPTS: Final = CompatMapping(
    product="proxmox-scripts",
    route="/compat/proxmox-scripts/telemetry",
    title="Proxmox VE Helper-Scripts",
    source="community-scripts/ProxmoxVE misc/api.func (_tm_payload, post_tool_to_api, "
    "post_addon_to_api)",
    fields=(
        _x("random_id", "install_id", note=KEYED_IF_NOT_UUID + " (tools send `tool-<epoch>`)"),
        _x(
            "execution_id",
            "ping_id",
            note="never published: a keyed hash of it (plus `terminal`, or the phase) becomes "
            "ping_id, so only the first terminal status of a run is counted",
        ),
        _k("type", "attrs.type"),
        _k("nsapp", "attrs.nsapp"),
        _x(
            "status",
            "attrs.status",
            "event",
            note="kept as attrs.status; success/failed/aborted/unknown give event install, "
            "installing/validation/configuring give event progress",
        ),
        _x("ct_type", "attrs.ct_type", note="the number 0/1/2 as a string"),
        _x("disk_size", "counts.disk_size", note="GB; a `G`/`GB` suffix is repaired"),
        _k("core_count", "counts.core_count"),
        _x("ram_size", "counts.ram_size", note="MB; an `M`/`MB` suffix is repaired, `G` × 1024"),
        _x("os_type", "attrs.os_type", "os", note="also the ping's os (`unknown` when empty)"),
        _k("os_version", "attrs.os_version"),
        _x(
            "pve_version",
            "attrs.pve_version",
            "version",
            "platform",
            note="also the ping's version (incus-<v> gives version <v>); when `platform` is not "
            "sent it is `incus` for incus-<v>, else `pve`",
        ),
        _k("method", "attrs.method"),
        _k("exit_code", "counts.exit_code", note="0 to 255"),
        _d("error", "free-text log excerpt: may carry hostnames, addresses, paths"),
        _x(
            "error_category",
            "attrs.error_category",
            note="kept when it is one of the catalog's values; otherwise (or when empty) derived "
            "from exit_code for failed/aborted/unknown runs",
        ),
        _k("install_duration", "counts.install_duration", note="seconds, at most 86400"),
        _k("cpu_vendor", "attrs.cpu_vendor"),
        _x("cpu_model", "attrs.cpu_model", note="cut to 64 characters"),
        _k("gpu_vendor", "attrs.gpu_vendor"),
        _x("gpu_model", "attrs.gpu_model", note="cut to 64 characters"),
        _k("gpu_passthrough", "attrs.gpu_passthrough"),
        _x("ram_speed", "counts.ram_speed", note="sent as a string; digits parsed, empty omitted"),
        _x(
            "arch",
            "arch",
            note="dpkg's amd64/arm64; the uname -m fallback's x86_64/aarch64 become amd64/arm64; "
            "`unknown` when empty (arm64 when has_arm)",
        ),
        _k("platform", "platform", note="TM_PLATFORM: pve or incus (empty in addon reports)"),
        _k("has_arm", "attrs.has_arm"),
        _k("repo_source", "attrs.repo_source", note="ProxmoxVE, ProxmoxVED or external"),
        _d(
            "repo_slug",
            "owner/repo of a fork names a GitHub user; for the official repos it only repeats "
            "repo_source",
        ),
    ),
)

FLOWFUSE: Final = CompatMapping(
    product="flowfuse",
    route="/compat/flowfuse/ping",
    title="FlowFuse",
    source="FlowFuse/flowfuse forge/housekeeper/tasks/telemetryMetrics.js and telemetryMetrics/*.js",
    fields=(
        _x("instanceId", "install_id", note=KEYED_IF_NOT_UUID),
        _x(
            "os.type",
            "os",
            note="os.type(): Linux, Darwin, Windows_NT become linux, darwin, windows",
        ),
        _k("os.release", "attrs.os_release"),
        _x("os.arch", "arch", note="os.arch(): x64 becomes amd64, ia32 386, arm64 and arm stay"),
        _k("env.nodejs", "attrs.nodejs_version"),
        _k("env.flowforge", "version"),
        _k("platform.counts.users", "counts.users"),
        _k("platform.counts.teams", "counts.teams"),
        _k("platform.counts.projects", "counts.projects"),
        _k("platform.counts.projectsByState.suspended", "counts.projects_suspended"),
        _k("platform.counts.devices", "counts.devices"),
        _k("platform.counts.devicesByLastSeen.never", "counts.devices_never_seen"),
        _k("platform.counts.devicesByLastSeen.day", "counts.devices_seen_last_day"),
        _k("platform.counts.projectSnapshots", "counts.project_snapshots"),
        _k("platform.counts.projectTemplates", "counts.project_templates"),
        _k("platform.counts.projectStacks", "counts.project_stacks"),
        _k("platform.counts.libraryEntries", "counts.library_entries"),
        _k("platform.counts.sharedLibraryEntries", "counts.shared_library_entries"),
        _k("platform.counts.blueprints", "counts.blueprints"),
        _k("platform.counts.teamBrokerClients", "counts.team_broker_clients"),
        _k("platform.counts.remoteBrokers", "counts.remote_brokers"),
        _x(
            "platform.config.driver",
            "attrs.driver",
            "platform",
            note="a driver outside localfs/docker/kubernetes/stub becomes `other`; also the "
            "ping's platform",
        ),
        _k("platform.config.broker.enabled", "attrs.broker_enabled"),
        _k("platform.config.fileStore.enabled", "attrs.file_store_enabled"),
        _k("platform.config.email.enabled", "attrs.email_enabled"),
        _d(
            "platform.license.id",
            "identifies the customer (community installs send an empty string: nothing to drop)",
        ),
        _k("platform.license.type", "attrs.license_type", note="CE, EE or DEV"),
    ),
)

NOVU_SOURCE: Final = (
    "novuhq/novu apps/worker/src/app/telemetry (machine.utils.ts, machineInfoService and "
    "userInfoService use cases, sendDataToNovuTrace.utils.ts)"
)
NOVU_EVENTS: Final = {
    "Initial Setup - [OS Telemetry]": "setup",
    "Regular Beacon - [OS Telemetry]": "beacon",
    "User Info - [OS Telemetry]": "usage",
}
"""Novu's event names (the wrapper's `event`) → catalog events. Any other name is counted as
event `other` with its properties dropped: Census cannot know their shape."""

NOVU_IDENTITY: Final = (
    "always replaced by a keyed hash (HMAC-SHA256 with CENSUS_INGEST_ID_SECRET) shaped as a "
    "UUID, never published: it is the UUIDv4 of ~/.novu-machine-id, or `<hostname>-<ipAddress>` "
    "when that file cannot be written; one install still counts as one"
)
_NOVU_MACHINE: Final = (
    ("platform", "os", "os.platform(); win32 becomes windows; the ping's platform is `unknown`"),
    ("release", "attrs.os_release", "os.release()"),
    ("freeMemory", "counts.free_memory_mb", "os.freemem(): bytes → MB (rounded down)"),
    ("totalMemory", "counts.total_memory_mb", "os.totalmem(): bytes → MB (rounded down)"),
)
_NOVU_USAGE_COUNTS: Final = (
    ("eventCount", "counts.event_count"),
    ("orgCount", "counts.org_count"),
    ("subscriberCount", "counts.subscriber_count"),
    ("topicCount", "counts.topic_count"),
    ("totalSteps", "counts.total_steps"),
    ("userCount", "counts.user_count"),
    ("workflowCount", "counts.workflow_count"),
)
_NULL_COUNT: Final = "null (its query failed) is ignored"
_TIMESTAMP: Final = (
    "ISO 8601 with milliseconds and Z as Novu sends it, epoch milliseconds, or a zone-less time "
    "(the documented example), taken as UTC"
)


def _novu_fields(prefix: str, *, machine: bool, usage: bool) -> tuple[FieldMapping, ...]:
    fields: list[FieldMapping] = [
        _x(prefix + "distinct_id", "install_id", note=NOVU_IDENTITY),
        _x(prefix + "instanceId", "install_id", note="the same value as distinct_id"),
    ]
    if machine:
        fields += [_x(prefix + up, target, note=note) for up, target, note in _NOVU_MACHINE]
        fields += [
            _d(prefix + "hostname", "names the machine"),
            _d(prefix + "ipAddress", "a network address"),
        ]
    if usage:
        fields += [_k(prefix + up, target, note=_NULL_COUNT) for up, target in _NOVU_USAGE_COUNTS]
        fields += [
            _x(
                prefix + "integrationCount",
                "counts.integration_count",
                "counts.integration_providers",
                note="[{count, providerId}]: the counts are summed, the distinct providers "
                "counted; the list itself is not kept; " + _NULL_COUNT,
            ),
            _d(prefix + "integrationCount.providerId", "open, growing set of provider names"),
            _x(prefix + "integrationCount.count", "counts.integration_count", note="summed"),
        ]
    fields.append(_x(prefix + "timestamp", "sent_at", note=_TIMESTAMP))
    return tuple(fields)


NOVU_TELEMETRY: Final = CompatMapping(
    product="novu",
    route="/compat/novu/telemetry",
    title="Novu, as it sends: set OS_TELEMETRY_URL to this route",
    source=NOVU_SOURCE,
    fields=(
        _x(
            "event",
            "event",
            note="; ".join(f"`{name}` → {event}" for name, event in NOVU_EVENTS.items())
            + "; any other name → other, its properties dropped",
        ),
        *_novu_fields("properties.", machine=True, usage=True),
    ),
)

NOVU_BEACON: Final = CompatMapping(
    product="novu",
    route="/compat/novu/beacon",
    title="Novu beacon, unwrapped (the documented form)",
    source="novuhq/docs content/docs/community/self-hosting-novu/telemetry.mdx",
    fields=_novu_fields("", machine=True, usage=False),
)

NOVU_USAGE: Final = CompatMapping(
    product="novu",
    route="/compat/novu/usage",
    title="Novu usage report, unwrapped (the documented form)",
    source="novuhq/docs content/docs/community/self-hosting-novu/telemetry.mdx",
    fields=_novu_fields("", machine=False, usage=True),
)

MAESTROHUB: Final = CompatMapping(
    product="maestrohub",
    route="/compat/maestrohub/report",
    title="MaestroHub",
    source="MaestroHub documentation, overview/telemetry (no public wire format: Census's JSON "
    "shape, snake_case, of the documented report)",
    fields=(
        _x("instance_id", "install_id", note=KEYED_ALWAYS),
        _k("event", "event", note="startup, first-user or report (the default)"),
        _k("version", "version"),
        _k("os", "os"),
        _k("arch", "arch"),
        _k("license.type", "attrs.license_type", note="trial, active or expired"),
        _d("license.id", "identifies the customer"),
        _d("hostname", "names the machine"),
        _d("public_ip", "a network address"),
        _d("admin_email", "a person's e-mail address"),
        _d("country", "derived from the client address"),
        _d("region", "derived from the client address"),
        _d("city", "derived from the client address"),
        _d("isp", "derived from the client address"),
        _k("users", "counts.users"),
        _k("organizations", "counts.organizations"),
        _k("data_models", "counts.data_models"),
        _x(
            "connections.total",
            "counts.connections_total",
            note="the sum of connections.by_type when absent",
        ),
        _x(
            "connections.by_type",
            "counts.connections_total",
            note="open set of type names: only its total is kept",
        ),
        _k("pipelines.total", "counts.pipelines"),
        _k("pipelines.enabled", "counts.pipelines_enabled"),
        _x("nodes.total", "counts.nodes_total", note="the sum of nodes.by_type when absent"),
        _x(
            "nodes.by_type",
            "counts.nodes_total",
            note="open set of type names: only its total is kept",
        ),
        _k("uns.topics", "counts.uns_topics"),
        _k("uns.mqtt_clients", "counts.uns_mqtt_clients"),
        _k("uns.mqtt_mode", "attrs.uns_mqtt_mode"),
        _k("uns.storage_mode", "attrs.uns_storage_mode"),
        _k("executions.total", "counts.executions_total"),
        _k("executions.success", "counts.executions_success"),
        _k("executions.failure", "counts.executions_failure"),
        _k("uptime_seconds", "counts.uptime_seconds"),
        _x("timestamp", "sent_at", note="RFC 3339 or epoch milliseconds"),
    ),
)

MAPPINGS: Final = (
    PULSE,
    PROXMOX_SCRIPTS,
    FLOWFUSE,
    NOVU_TELEMETRY,
    NOVU_BEACON,
    NOVU_USAGE,
    MAESTROHUB,
)

ENVELOPE_DEFAULT: Final = "unknown"
"""What a compat ping carries in version/platform/os/arch when the product does not say."""
