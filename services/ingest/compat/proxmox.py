"""Proxmox VE Helper-Scripts: the JSON that misc/api.func builds in bash (one report per run)."""

from __future__ import annotations

import operator
from typing import Any, Final

import msgspec

from schemas.compat import ENVELOPE_DEFAULT, PROXMOX_SCRIPTS
from schemas.ping import AttrText, Count
from schemas.reader import rules_of
from services.ingest.compat import bashjson, lenient, typed
from services.ingest.compat.common import (
    CompatContext,
    InstanceId,
    decode_json,
    dropped_by_design,
    finish,
    install_uuid,
    keyed_uuid,
    require_object,
    unknown_fields,
)
from services.ingest.compat.names import arch_name
from services.ingest.validate import Checked, Rejection, is_repeated_key

PRODUCT: Final = "proxmox-scripts"
INCUS: Final = "incus"
INCUS_PREFIX: Final = "incus-"
TERMINAL: Final = frozenset({"success", "failed", "aborted", "unknown"})
FAILED: Final = frozenset({"failed", "aborted", "unknown"})

# api.func categorize_error(): exit code → category, for reports that do not carry one.
_CATEGORY_CODES: Final = {
    "network": (6, 7, 22, 35),
    "config": (10, 128, 203, 204, 205, 206, 207, 208),
    "timeout": (28, 124, 211),
    "storage": (214, 217, 219, 224),
    "dependency": (100, 101, 102, 127, 160, 161, 162, 255),
    "permission": (126, 152),
    "proxmox": (200, 209, 210, 212, 213, 215, 216, 218, 220, 221, 222, 223, 225, 231),
    "service": (150, 151, 153, 154),
    "database": (170, 171, 172, 173, 180, 181, 182, 183, 190, 191, 192, 193),
    "runtime": (243, 245, 246, 247, 248, 249),
    "user_aborted": (129, 130, 143),
    "resource": (134, 137),
    "signal": (139, 141),
    "shell": (1, 2),
}
CATEGORY_BY_CODE: Final = {code: name for name, codes in _CATEGORY_CODES.items() for code in codes}

Number = Count | str | None
"""bash writes numbers bare (`32`), with a unit (`"32G"`), or empty (`""`)."""


class ProxmoxReport(msgspec.Struct, frozen=True, kw_only=True):
    random_id: InstanceId
    execution_id: str | None = None
    type: AttrText | None = None
    nsapp: AttrText
    status: AttrText
    ct_type: int | str | None = None
    disk_size: Number = None
    core_count: Number = None
    ram_size: Number = None
    os_type: AttrText | None = None
    os_version: AttrText | None = None
    pve_version: AttrText | None = None
    method: AttrText | None = None
    exit_code: Number = None
    error: str | None = None
    error_category: str | None = None
    install_duration: Number = None
    cpu_vendor: AttrText | None = None
    cpu_model: str | None = None
    gpu_vendor: AttrText | None = None
    gpu_model: str | None = None
    gpu_passthrough: AttrText | None = None
    ram_speed: Number = None
    arch: str | None = None
    platform: AttrText | None = None
    has_arm: bool | None = None
    repo_source: AttrText | None = None
    repo_slug: str | None = None


_NUMBERS: Final = tuple(name for name in bashjson.UNITS if name in ProxmoxReport.__struct_fields__)
"""The report's fields bash may write with a unit; read at once by `_read_numbers`."""
_read_numbers: Final = operator.attrgetter(*_NUMBERS)


def category_for(exit_code: int) -> str:
    return CATEGORY_BY_CODE.get(exit_code, "unknown")


def _unrepairable(first: Rejection) -> Rejection:
    return Rejection(
        400,
        "invalid_json",
        "$",
        first.reason + " (not repairable: only control characters and unit suffixes on numbers "
        f"are repaired, in a body of at most {bashjson.REPAIR_MAX_BYTES} bytes)",
    )


def _decode(body: bytes) -> Any:
    """The report as JSON, repaired first if bash broke it; repeated keys refused either way."""
    try:
        return decode_json(body)
    except Rejection as first:
        if is_repeated_key(first):
            raise  # well-formed JSON: nothing to repair, and the rule of every route
        body = _repaired(body, first)
        try:
            return decode_json(body)
        except Rejection as second:
            raise second if is_repeated_key(second) else _unrepairable(first) from None


def _repaired(body: bytes, first: Rejection) -> bytes:
    try:
        repaired = bashjson.repair(body)
    except bashjson.AmbiguousValue as exc:
        raise Rejection(400, "invalid_json", f"$.{exc.field}", str(exc)) from None
    except bashjson.TooManyDigits as exc:
        raise Rejection(422, "invalid_ping", f"$.{exc.field}", str(exc)) from None
    if repaired is None:
        raise _unrepairable(first)
    return repaired


def _number(field: str, value: int | str | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.strip() == "":
        return None
    try:
        number = bashjson.number_with_unit(field, value)
    except (bashjson.AmbiguousValue, bashjson.TooManyDigits) as exc:
        raise Rejection(422, "invalid_ping", f"$.{field}", str(exc)) from None
    if number is None:
        raise Rejection(
            422, "invalid_ping", f"$.{field}", f"Expected a number, got {bashjson.shown(value)}"
        )
    return number


def _text(value: str | None) -> str | None:
    """bash sends "" for unknown values: treat it as absent."""
    return value.strip() or None if value is not None else None


def _platform(sent: str | None, pve_version: str | None) -> str | None:
    """TM_PLATFORM as sent (pve or incus); older reports say it only through pve_version."""
    if sent:
        return sent
    if pve_version is None:
        return None
    return INCUS if pve_version.startswith(INCUS_PREFIX) else "pve"


_BY_DESIGN: Final = typed.DroppedByDesign(ProxmoxReport, PROXMOX_SCRIPTS)


def _read(body: bytes) -> tuple[ProxmoxReport, list[str], list[str]]:
    """The report, the values it could not take, and the fields not kept (unknown or by design;
    bash writes "" for an empty error or slug: nothing was dropped then)."""
    quick = typed.decode(body, ProxmoxReport)
    if quick is not None:
        return quick, [], [path for path in _BY_DESIGN.of(quick) if getattr(quick, path) != ""]
    raw = require_object(_decode(body))
    report, wrong = lenient.convert(raw, ProxmoxReport)
    by_design = [path for path in dropped_by_design(raw, PROXMOX_SCRIPTS) if raw[path] != ""]
    return report, wrong, unknown_fields(raw, ProxmoxReport) + by_design


def adapt(body: bytes, ctx: CompatContext) -> Checked:
    report, wrong, dropped = _read(body)
    catalog = ctx.catalogs.get(PRODUCT)
    assert catalog is not None, "proxmox-scripts.toml is a seed catalog"

    numbers = {
        name: value if value is None or isinstance(value, int) else _number(name, value)
        for name, value in zip(_NUMBERS, _read_numbers(report), strict=True)
    }
    status = report.status
    terminal = status in TERMINAL
    exit_code = numbers["exit_code"]

    category = _text(report.error_category)
    if category not in rules_of(catalog).enums["error_category"]:  # a set: the list was 0.24 us
        category = None
    if category is None and status in FAILED and exit_code is not None:
        category = category_for(exit_code)

    execution = report.execution_id or report.random_id
    phase = "terminal" if terminal else status
    pve_version = _text(report.pve_version)
    ct_type = None if report.ct_type is None else str(report.ct_type).strip() or None
    attrs: dict[str, Any] = {
        "nsapp": report.nsapp,
        "type": _text(report.type),
        "status": status,
        "ct_type": ct_type,
        "os_type": _text(report.os_type),
        "os_version": _text(report.os_version),
        "pve_version": pve_version,
        "method": _text(report.method),
        "error_category": category,
        "cpu_vendor": _text(report.cpu_vendor),
        "cpu_model": (_text(report.cpu_model) or "")[:64] or None,
        "gpu_vendor": _text(report.gpu_vendor),
        "gpu_model": (_text(report.gpu_model) or "")[:64] or None,
        "gpu_passthrough": _text(report.gpu_passthrough),
        "has_arm": report.has_arm,
        "repo_source": _text(report.repo_source),
    }
    arch = arch_name(report.arch) or ("arm64" if report.has_arm else ENVELOPE_DEFAULT)
    version = pve_version.removeprefix(INCUS_PREFIX) if pve_version else None
    fields = {
        "product": PRODUCT,
        "install_id": install_uuid(ctx, PRODUCT, report.random_id, keep_uuid=True),
        "event": "install" if terminal else "progress",
        "ping_id": keyed_uuid(ctx.id_key, PRODUCT, "execution", execution, phase),
        "version": version or ENVELOPE_DEFAULT,
        "platform": _platform(_text(report.platform), pve_version) or ENVELOPE_DEFAULT,
        "os": _text(report.os_type) or ENVELOPE_DEFAULT,
        "arch": arch,
        "attrs": {k: v for k, v in attrs.items() if v is not None},
        "counts": {k: v for k, v in numbers.items() if v is not None},
    }
    checked = finish([fields], dropped, PROXMOX_SCRIPTS, ctx)
    return lenient.with_wrong(checked, PRODUCT, wrong)
