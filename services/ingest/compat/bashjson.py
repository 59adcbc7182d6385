"""Repairing the JSON that bash heredocs produce slightly broken, where the repair is unambiguous.

Two known breakages: a raw control character inside a string (a log line with a tab or an escape
sequence that json_escape missed), and a number written with its unit (`"disk_size": 32G` when a
variable held `32G`). Anything else stays broken and is refused with the parser's position.

Bounded: only a body of at most REPAIR_MAX_BYTES is repaired (a real report is a few kB; the
repair is a Python loop over bytes), and a number is read only up to MAX_DIGITS digits, so neither
the time spent nor Python's int-conversion limit (4,300 digits, a ValueError) depends on the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from schemas.ping import MAX_COUNT

REPAIR_MAX_BYTES: Final = 65_536
MAX_DIGITS: Final = len(str(MAX_COUNT))
"""A number with more significant digits than the largest count can only be out of range."""
_CONTROL: Final = frozenset(range(0x20)) | {0x7F}
_WHITESPACE: Final = frozenset(b" \t\r\n")

# Unit → factor to the field's own unit; a unit not listed for a field is ambiguous.
UNITS: Final[dict[str, dict[str, int]]] = {
    "disk_size": {"": 1, "g": 1, "gb": 1, "gib": 1},
    "ram_size": {"": 1, "m": 1, "mb": 1, "mib": 1, "g": 1024, "gb": 1024, "gib": 1024},
    "core_count": {"": 1},
    "ram_speed": {"": 1, "mt/s": 1, "mhz": 1},
    "install_duration": {"": 1, "s": 1},
    "exit_code": {"": 1},
}
_UNQUOTED: Final = re.compile(
    rb'("(?P<key>' + "|".join(UNITS).encode() + rb')"\s*:\s*)'
    rb"(?P<number>\d+)\s*(?P<unit>[A-Za-z][A-Za-z/]*)(?=\s*[,}])"
)
_WITH_UNIT: Final = re.compile(r"^\s*(\d+)\s*([A-Za-z][A-Za-z/]*)?\s*$")


@dataclass(frozen=True, slots=True)
class AmbiguousValue(Exception):
    """A number with a unit that cannot be converted without guessing."""

    field: str
    value: str

    def __str__(self) -> str:
        units = ", ".join(u for u in UNITS[self.field] if u) or "none"
        return f"cannot read {shown(self.value)} as {self.field} (units understood: {units})"


@dataclass(frozen=True, slots=True)
class TooManyDigits(Exception):
    """A number longer than any count can be: out of range whatever its unit."""

    field: str

    def __str__(self) -> str:
        return f"{self.field} has more than {MAX_DIGITS} digits: larger than any count allows"


def shown(value: str) -> str:
    """A client's text quoted in an error, cut short: an error never grows with the body."""
    return repr(value) if len(value) <= 40 else repr(value[:40]) + f"... ({len(value)} chars)"


def number_with_unit(field: str, text: str) -> int | None:
    """`"32G"` → 32 for disk_size; None when `text` is not a number; AmbiguousValue for a unit
    the field does not take; TooManyDigits for a number no count can hold."""
    if text.isascii() and text.isdigit():
        return _digits(field, text)  # bare digits, as bash writes most: the field's own unit
    match = _WITH_UNIT.match(text)
    if match is None:
        return None
    factor = UNITS[field].get((match[2] or "").lower())
    if factor is None:
        raise AmbiguousValue(field, text)
    return _digits(field, match[1]) * factor


def _digits(field: str, digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_DIGITS:
        raise TooManyDigits(field)
    return int(significant)


def strip_controls(body: bytes) -> bytes:
    """Control characters inside strings become spaces; stray ones outside strings go away."""
    out = bytearray()
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
            elif byte in _CONTROL:
                out.append(0x20)
                continue
        elif byte == 0x22:
            in_string = True
        elif byte in _CONTROL and byte not in _WHITESPACE:
            continue
        out.append(byte)
    return bytes(out)


def unquoted_units(body: bytes) -> bytes:
    """`"disk_size": 32G` → `"disk_size": 32`; raises AmbiguousValue for a unit it cannot take,
    TooManyDigits for a number no count can hold."""

    def fix(match: re.Match[bytes]) -> bytes:
        field = match["key"].decode()
        text = (match["number"] + match["unit"]).decode()
        value = number_with_unit(field, text)
        return match[1] + str(value).encode()

    return _UNQUOTED.sub(fix, body)


def repair(body: bytes) -> bytes | None:
    """Both repairs, or None for a body too large to be repaired; the caller parses the result
    and refuses it if it is still not JSON."""
    if len(body) > REPAIR_MAX_BYTES:
        return None
    return unquoted_units(strip_controls(body))
