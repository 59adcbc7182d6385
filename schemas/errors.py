"""Turning msgspec's decode and validation errors into a JSON path and a reason a client can act on."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any, Final

import msgspec

_AT_PATH: Final = re.compile(r"^(?P<reason>.*) - at `(?P<path>[^`]*)`$", re.S)
_KEY_IN: Final = re.compile(r"^(?P<reason>.*) - at `key` in `(?P<path>[^`]*)`$", re.S)
_STEP: Final = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem in a request body: where (`$.counts.vms`) and what rule it broke."""

    path: str
    reason: str


def _navigate(obj: Any, path: str) -> Any:
    """Follow `$.a[2].b` through generic JSON data; None where it does not lead anywhere."""
    if not path.startswith("$"):
        return None
    for match in _STEP.finditer(path, 1):
        name, index = match.groups()
        if name is not None and isinstance(obj, dict):
            obj = obj.get(name)
        elif index is not None and isinstance(obj, list) and int(index) < len(obj):
            obj = obj[int(index)]
        else:
            return None
    return obj


def _value_type(owner: type[Any], field: str) -> Any:
    """The value type of a dict-valued Struct field, e.g. Count for Ping.counts."""
    hints = typing.get_type_hints(owner, include_extras=True)
    kind = hints.get(field)
    if typing.get_origin(kind) is dict:
        return typing.get_args(kind)[1]
    return None


def validation_error(exc: msgspec.ValidationError, body: Any, item_type: type[Any]) -> FieldError:
    """Split msgspec's message into path and reason, naming the dict key where msgspec says `[...]`.

    `body` is the request decoded as untyped JSON (only needed on this error path).
    """
    message = str(exc)
    match = _KEY_IN.match(message)
    if match is not None:
        return FieldError(match["path"], "invalid key: " + match["reason"])
    match = _AT_PATH.match(message)
    if match is None:
        return FieldError("$", message)
    path, reason = match["path"], match["reason"]
    head, sep, tail = path.partition("[...]")
    if sep and not tail:
        container_path, _, field = head.rpartition(".")
        container = _navigate(body, head)
        value_type = _value_type(item_type, field)
        if isinstance(container, dict) and value_type is not None:
            for key, value in container.items():
                try:
                    msgspec.convert(value, value_type)
                except msgspec.ValidationError as inner:
                    inner_reason = str(inner).rsplit(" - at `", 1)[0]
                    return FieldError(f"{head}.{key}", inner_reason)
        del container_path
    return FieldError(path, reason)


def decode_error(exc: msgspec.DecodeError, body: bytes) -> FieldError:
    """A body that is not JSON (or not UTF-8): the reason, with a byte position where known."""
    message = str(exc)
    if "truncated" in message:
        message += f" (at byte {len(body)}, the end of the body)"
    return FieldError("$", message)
