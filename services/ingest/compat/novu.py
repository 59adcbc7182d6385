"""Novu: the wrapped events its worker posts to OS_TELEMETRY_URL, and the documented unwrapped
beacon and usage bodies.

novuhq/novu apps/worker/src/app/telemetry posts `{"event": "<name> - [OS Telemetry]",
"properties": {...}}`: machine info ("Initial Setup" at boot, "Regular Beacon" hourly) and
counts ("User Info" daily). The install is `distinct_id` (also `instanceId` in machine info):
the UUIDv4 of ~/.novu-machine-id, or `<hostname>-<ipAddress>` when that file cannot be written,
so it is always replaced by a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar

import msgspec

from schemas.catalog import OTHER
from schemas.compat import (
    ENVELOPE_DEFAULT,
    NOVU_BEACON,
    NOVU_EVENTS,
    NOVU_TELEMETRY,
    NOVU_USAGE,
    CompatMapping,
)
from schemas.ping import AttrText, Count
from services.ingest.compat import lenient, typed
from services.ingest.compat.common import (
    CompatContext,
    decode_json,
    dropped_by_design,
    finish,
    install_uuid,
    require_object,
    sent_at,
    unknown_fields,
)
from services.ingest.compat.names import os_name
from services.ingest.compat.structread import StructReader
from services.ingest.validate import Checked, Rejection

PRODUCT: Final = "novu"
S = TypeVar("S", bound=msgspec.Struct)
_MB: Final = 1024 * 1024

Bytes = Annotated[int, msgspec.Meta(ge=0)] | Annotated[float, msgspec.Meta(ge=0)]
Timestamp = dt.datetime | int | None
"""Novu sends `new Date().toISOString()`; its docs show a zone-less time; old docs epoch ms."""


class NovuBeacon(msgspec.Struct, frozen=True, rename="camel"):
    """Machine info (getMachineInfo()): the properties of Initial Setup and Regular Beacon."""

    distinct_id: str | None = msgspec.field(default=None, name="distinct_id")
    instance_id: str | None = None
    platform: str | None = None
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
    """The properties of User Info (userInfoService): each count is null when its query failed."""

    distinct_id: str | None = msgspec.field(default=None, name="distinct_id")
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


class _Identity(msgspec.Struct, frozen=True, rename="camel"):
    """What Census reads of an event it does not know: who sent it, and when."""

    distinct_id: str | None = msgspec.field(default=None, name="distinct_id")
    instance_id: str | None = None
    timestamp: Timestamp = None


def _union(name: str, *kinds: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """A Struct with every field of `kinds` (each once), all optional: any event's properties."""
    fields: dict[str, tuple[str, Any, Any]] = {}
    for kind in kinds:
        for field in msgspec.structs.fields(kind):
            fields.setdefault(
                field.name,
                (field.name, field.type, msgspec.field(default=None, name=field.encode_name)),
            )
    return msgspec.defstruct(name, list(fields.values()), frozen=True)


NovuProperties: Final = _union("NovuProperties", NovuBeacon, NovuUsage)
"""`properties` as any of the three events may carry it; each key is checked against its type."""


class NovuEvent(msgspec.Struct, frozen=True):
    """The wrapper sendDataToNovuTrace() posts."""

    event: str
    properties: NovuProperties  # type: ignore[valid-type]


def _megabytes(value: float | None) -> int | None:
    return None if value is None else int(value // _MB)


IDENTITY: Final = ("distinct_id", "instanceId")
"""Novu names its install by either key (the wire's names): a body needs one of them, non-blank."""


def _install(ctx: CompatContext, distinct_id: str | None, instance_id: str | None, at: str) -> Any:
    raw = next((v.strip() for v in (distinct_id, instance_id) if v and v.strip()), "")
    if not raw:
        raise Rejection(
            422,
            "invalid_ping",
            f"{at}distinct_id",
            "missing: a report is counted per instance, named by distinct_id or instanceId",
        )
    return install_uuid(ctx, PRODUCT, raw, keep_uuid=False)


def _sent_at(value: Timestamp, name: str, wrong: list[str]) -> dt.datetime | None:
    """The client's clock, or None (listed in `wrong`) when it is not a time: it is optional."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the documented example has no zone: Novu's is UTC
    try:
        return sent_at(value, name)
    except Rejection:
        wrong.append(name)
        return None


def _envelope(install_id: Any, event: str, when: dt.datetime | None) -> dict[str, Any]:
    return {
        "product": PRODUCT,
        "install_id": install_id,
        "event": event,
        "version": ENVELOPE_DEFAULT,
        "platform": ENVELOPE_DEFAULT,
        "os": ENVELOPE_DEFAULT,
        "arch": ENVELOPE_DEFAULT,
        "sent_at": when,
    }


def machine_fields(
    beacon: NovuBeacon, event: str, ctx: CompatContext, at: str, wrong: list[str]
) -> dict[str, Any]:
    """The canonical fields of machine info; `at` is the JSON path of the properties."""
    counts = {
        "free_memory_mb": _megabytes(beacon.free_memory),
        "total_memory_mb": _megabytes(beacon.total_memory),
    }
    install = _install(ctx, beacon.distinct_id, beacon.instance_id, at)
    when = _sent_at(beacon.timestamp, f"{at[2:]}timestamp", wrong)
    fields = _envelope(install, event, when)
    fields["os"] = os_name(beacon.platform) or ENVELOPE_DEFAULT
    fields["attrs"] = {"os_release": beacon.release} if beacon.release else {}
    fields["counts"] = {k: v for k, v in counts.items() if v is not None}
    return fields


def usage_fields(usage: NovuUsage, ctx: CompatContext, at: str, wrong: list[str]) -> dict[str, Any]:
    """The canonical fields of a usage report; null counts are left out."""
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
    install = _install(ctx, usage.distinct_id, usage.instance_id, at)
    fields = _envelope(install, "usage", _sent_at(usage.timestamp, f"{at[2:]}timestamp", wrong))
    fields["counts"] = {k: v for k, v in counts.items() if v is not None}
    return fields


def _unwrapped(
    kind: type[msgspec.Struct],
    mapping: CompatMapping,
    build: Callable[[Any, CompatContext, list[str]], dict[str, Any]],
) -> Callable[[bytes, CompatContext], Checked]:
    read = StructReader(kind, mapping)

    def adapt(body: bytes, ctx: CompatContext) -> Checked:
        struct, wrong, dropped = read(body)
        fields = build(struct, ctx, wrong)
        return lenient.with_wrong(finish([fields], dropped, mapping, ctx), PRODUCT, wrong)

    return adapt


adapt_beacon: Final = _unwrapped(
    NovuBeacon,
    NOVU_BEACON,
    lambda beacon, ctx, wrong: machine_fields(beacon, "beacon", ctx, "$.", wrong),
)
adapt_usage: Final = _unwrapped(
    NovuUsage, NOVU_USAGE, lambda usage, ctx, wrong: usage_fields(usage, ctx, "$.", wrong)
)

_PROPERTIES: Final = "properties."


_VIEWS: Final[dict[type[msgspec.Struct], operator.attrgetter[tuple[Any, ...]]]] = {
    kind: operator.attrgetter(*kind.__struct_fields__)
    for kind in (NovuUsage, NovuBeacon, _Identity)
}
"""Per event's Struct: its fields read from the properties at once, in its order (C-level)."""


def _as(kind: type[S], properties: Any) -> S:
    """One event's view of the (already type-checked) properties."""
    return kind(*_VIEWS[kind](properties))


def _event_kind(name: str) -> tuple[str, type[msgspec.Struct]]:
    """The catalog event a wrapper's event name stands for, and the Struct of its properties."""
    event = NOVU_EVENTS.get(name, OTHER)
    return event, NovuUsage if event == "usage" else _Identity if event == OTHER else NovuBeacon


_OUTSIDE: Final[dict[type[msgspec.Struct], operator.attrgetter[tuple[Any, ...]]]] = {
    kind: operator.attrgetter(
        *(name for name in NovuProperties.__struct_fields__ if name not in kind.__struct_fields__)
    )
    for kind in (NovuUsage, NovuBeacon, _Identity)
}
"""Per event's Struct: the properties only another event's Struct has (unknown fields here)."""


def _typed_wrapper(body: bytes) -> NovuEvent | None:
    """The wrapper typed straight from the bytes, if its properties are all its event's own
    (else `unknown_fields` lists the others in the order sent: the tolerant way says it)."""
    wrapper = typed.decode(body, NovuEvent)
    if wrapper is None:
        return None
    _, kind = _event_kind(wrapper.event)
    properties = wrapper.properties
    outside = _OUTSIDE[kind](properties)
    return wrapper if outside.count(None) == len(outside) else None


_WRAPPED_BY_DESIGN: Final = typed.DroppedByDesign(NovuEvent, NOVU_TELEMETRY)


def adapt_wrapped(body: bytes, ctx: CompatContext) -> Checked:
    """POST /compat/novu/telemetry: one of Novu's three events, as its worker posts them."""
    raw: Any = None
    wrong: list[str] = []
    wrapper = _typed_wrapper(body)
    if wrapper is None:
        raw = require_object(decode_json(body))
        wrapper, wrong = lenient.convert(raw, NovuEvent)
    event, kind = _event_kind(wrapper.event)
    at = "$." + _PROPERTIES
    if event == "usage":
        fields = usage_fields(_as(NovuUsage, wrapper.properties), ctx, at, wrong)
    elif event != OTHER:
        fields = machine_fields(_as(NovuBeacon, wrapper.properties), event, ctx, at, wrong)
    else:
        # An event Census does not know: counted for its install, its properties not kept.
        ident = _as(_Identity, wrapper.properties)
        install = _install(ctx, ident.distinct_id, ident.instance_id, at)
        when = _sent_at(ident.timestamp, f"{_PROPERTIES}timestamp", wrong)
        fields = _envelope(install, OTHER, when)
    if raw is None:
        dropped = _WRAPPED_BY_DESIGN.of(wrapper)
    else:
        dropped = unknown_fields(raw, NovuEvent)
        dropped += unknown_fields(raw["properties"], kind, _PROPERTIES)
        dropped += dropped_by_design(raw, NOVU_TELEMETRY)
    return lenient.with_wrong(finish([fields], dropped, NOVU_TELEMETRY, ctx), PRODUCT, wrong)
