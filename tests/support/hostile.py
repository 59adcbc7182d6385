"""Hostile bodies for the compat routes, shared by the unit tests (aiohttp test client) and the
e2e hostile-input suite (a real `census ingest`)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any, Final

import msgspec

from tests.support import compat as bodies

FLOWFUSE: Final = "/compat/flowfuse/ping"
MAESTRO: Final = "/compat/maestrohub/report"
USAGE: Final = "/compat/novu/usage"
PROXMOX: Final = "/compat/proxmox-scripts/telemetry"
NESTED_KEYS: Final = 100_000
LONG_DIGITS: Final = "1" * 4_301  # one past Python's int-conversion limit


def _keys(n: int) -> dict[str, int]:
    return {f"f{i}": 0 for i in range(n)}


NESTED_UNKNOWN: Final[dict[str, Callable[[int], dict[str, Any]]]] = {
    FLOWFUSE: lambda n: bodies.flowfuse_body(platform={"counts": {"users": 1, **_keys(n)}}),
    MAESTRO: lambda n: bodies.maestrohub_body(uns={"topics": 1, **_keys(n)}),
    USAGE: lambda n: bodies.novu_usage_body(integrationCount=[{f"f{i}": 0} for i in range(n)]),
}
"""Route → a body with `n` distinct unknown keys nested inside declared objects."""


def nested_unknown_gzip(route: str, n: int = NESTED_KEYS) -> bytes:
    """The ~225 kB gzip request that once froze ingest for 45 s (100,000 nested unknown keys)."""
    return gzip.compress(msgspec.json.encode(NESTED_UNKNOWN[route](n)), compresslevel=9)


def proxmox_text() -> bytes:
    """A realistic Proxmox report, formatted as api.func writes it (one field per line)."""
    return msgspec.json.format(msgspec.json.encode(bodies.proxmox_body()), indent=4)


LONG_NUMBERS: Final = {
    "quoted": (b'"disk_size": 8', b'"disk_size": "' + LONG_DIGITS.encode() + b'"'),
    "quoted with unit": (b'"disk_size": 8', b'"disk_size": "' + LONG_DIGITS.encode() + b'G"'),
    "bare with unit (repaired)": (
        b'"ram_size": 2048',
        b'"ram_size": ' + LONG_DIGITS.encode() + b"M",
    ),
    "bare": (b'"core_count": 2', b'"core_count": ' + LONG_DIGITS.encode()),
    "bare ct_type": (b'"ct_type": 1', b'"ct_type": ' + LONG_DIGITS.encode()),
}
"""Proxmox numbers of more than 4,300 digits, in every shape bash writes a number."""
LEADING_ZEROS: Final = (b'"disk_size": 8', b'"disk_size": "' + b"0" * 5_000 + b'8G"')
"""4,300+ digits that are only 8: read as 8, not refused."""


def proxmox_with(replace: bytes, by: bytes) -> bytes:
    text = proxmox_text()
    assert replace in text, replace
    return text.replace(replace, by, 1)


def duplicated(route: str) -> bytes:
    """The route's realistic body with its first key written twice (the second copy differs)."""
    text = msgspec.json.encode(bodies.ROUTE_BODIES[route]())
    key, _, _ = text[1:].partition(b":")
    return b"{" + key + b': "shadow", ' + text[1:]
