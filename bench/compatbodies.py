"""The bodies bench/ingest.py posts to each compat route, shaped like its real client's: from
tests/fixtures/ where the clients' own payloads are committed, else from tests/support/compat.py;
each with fresh install ids, as a fleet sends. A route this code lacks is skipped, with a note."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tests.support import compat

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


@dataclass(frozen=True, slots=True)
class CompatCase:
    product: str  # as in the figure names: compat_<product>_vs_canonical
    route: str
    source: str  # where the body's shape came from
    bodies: list[bytes]


def _fixture(product: str, name: str) -> dict[str, Any] | None:
    path = FIXTURES / product / name
    if not path.is_file():
        return None
    value = msgspec.json.decode(path.read_bytes())
    return value if isinstance(value, dict) else None


def _fresh(body: dict[str, Any], ids: Callable[[dict[str, Any], str], None]) -> bytes:
    copy = msgspec.json.decode(msgspec.json.encode(body))
    ids(copy, str(uuid.uuid4()))
    return msgspec.json.encode(copy)


def _set(*paths: str) -> Callable[[dict[str, Any], str], None]:
    """Sets each dotted path of a body to the same fresh id."""

    def apply(body: dict[str, Any], value: str) -> None:
        for path in paths:
            *parents, leaf = path.split(".")
            target = body
            for parent in parents:
                target = target[parent]
            target[leaf] = value

    return apply


def cases(routes: tuple[str, ...], count: int) -> tuple[list[CompatCase], list[str]]:
    """The cases whose route exists in `routes`, `count` bodies each; and the notes of those
    skipped or built from a stand-in body."""
    notes: list[str] = []
    candidates: list[tuple[str, str, str, dict[str, Any] | None, Callable[..., None]]] = []

    pulse = _fixture("pulse", "schema10-heartbeat-every-group.json")
    source = "tests/fixtures/pulse/schema10-heartbeat-every-group.json"
    if pulse is None:
        pulse = compat.pulse_body()
        source = f"tests/support/compat.py pulse_body (schema_version {pulse['schema_version']})"
        notes.append(
            f"pulse: no schema-10 fixture in tests/fixtures on this code; body from {source}"
        )
    candidates.append(
        ("pulse", "/compat/pulse/v1/telemetry/ping", source, pulse, _set("install_id"))
    )

    proxmox = _fixture("proxmox-scripts", "lxc-installing.json")
    source = "tests/fixtures/proxmox-scripts/lxc-installing.json"
    if proxmox is None:
        proxmox = compat.proxmox_body(
            status="installing", exit_code=0, error="", install_duration=2
        )
        source = "tests/support/compat.py proxmox_body(status='installing')"
    candidates.append(
        (
            "proxmox_scripts",
            "/compat/proxmox-scripts/telemetry",
            source,
            proxmox,
            _set("random_id"),
        )
    )

    flowfuse = _fixture("flowfuse", "ee.json")
    source = "tests/fixtures/flowfuse/ee.json"
    if flowfuse is None:
        flowfuse = compat.flowfuse_body()
        source = "tests/support/compat.py flowfuse_body"
    candidates.append(("flowfuse", "/compat/flowfuse/ping", source, flowfuse, _set("instanceId")))

    novu = _fixture("novu", "regular-beacon.json")
    candidates.append(
        (
            "novu",
            "/compat/novu/telemetry",
            "tests/fixtures/novu/regular-beacon.json",
            novu,
            _set("properties.distinct_id", "properties.instanceId"),
        )
    )

    candidates.append(
        (
            "maestrohub",
            "/compat/maestrohub/report",
            "tests/support/compat.py maestrohub_body",
            compat.maestrohub_body(),
            _set("instance_id"),
        )
    )

    out: list[CompatCase] = []
    for product, route, source, body, ids in candidates:
        if route not in routes:
            notes.append(f"{product}: POST {route} is not a route of this code: skipped, no figure")
            continue
        if body is None:
            notes.append(
                f"{product}: no body for POST {route} ({source} absent): skipped, no figure"
            )
            continue
        out.append(CompatCase(product, route, source, [_fresh(body, ids) for _ in range(count)]))
    return out, notes
