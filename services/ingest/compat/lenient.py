"""A product's Struct from untyped JSON, tolerantly (DESIGN §3): a wrong optional value costs that
value alone, listed as dropped; only a missing or wrong required field refuses the body.

Pure: data in, data out. msgspec says where a value is wrong; its wording is never passed on.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from typing import Any, Final, TypeVar

import msgspec

from schemas.reader import DropCode
from services.ingest.validate import Checked, Rejection

T = TypeVar("T", bound=msgspec.Struct)

WRONG: Final = "of the wrong type, or out of range: not kept"
"""The reason given beside `dropped_fields` for a value the product's Struct does not take."""
REFUSED: Final = "missing, of the wrong type, or out of range"
_MAX_REPAIRS: Final = 256
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _path(exc: msgspec.ValidationError) -> str:
    """The JSON path msgspec names (`$.a[0].b`); only the path is taken, never its wording."""
    _, sep, path = str(exc).rpartition(" - at `")
    return path.rstrip("`") if sep and path.startswith("$") else "$"


def _struct_of(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct inside `S`, `S | None` or `list[S]`, if any."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    if typing.get_origin(kind) in (types.UnionType, typing.Union, list):
        for arg in typing.get_args(kind):
            found = _struct_of(arg)
            if found is not None:
                return found
    return None


def _remove(body: Any, path: str, kind: type[msgspec.Struct]) -> str | None:
    """Delete from `body` the optional field that holds the wrong value at `path`: the field the
    path ends at, or else the innermost optional field that contains it (a wrong item of a list
    costs the list). Its dotted name (list indexes left out), or None when only a required field
    holds it."""
    steps = _STEP.findall(path[1:])
    if not steps or "".join(f".{k}" if k else f"[{i}]" for k, i in steps) != path[1:]:
        return None
    node: Any = body
    struct: type[msgspec.Struct] | None = kind
    names: list[str] = []
    innermost: tuple[dict[str, Any], str, str] | None = None  # (its object, key, dotted name)
    for key, index in steps:
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                break
            node, struct = node[int(index)], struct
            continue
        if struct is None or not isinstance(node, dict) or key not in node:
            break
        field = {f.encode_name: f for f in msgspec.structs.fields(struct)}.get(key)
        if field is None:
            break
        names.append(key)
        if not field.required:
            innermost = (node, key, ".".join(names))
        node, struct = node[key], _struct_of(field.type)
    if innermost is None:
        return None
    holder, key, name = innermost
    del holder[key]
    return name


def convert(raw: dict[str, Any], kind: type[T]) -> tuple[T, list[str]]:
    """`kind` from `raw`, dropping each optional value it does not take; (struct, dropped names).
    Raises a 422 naming the field when a required one is missing or wrong."""
    body: Any = raw
    dropped: list[str] = []
    for _ in range(_MAX_REPAIRS):
        try:
            return msgspec.convert(body, kind), dropped
        except msgspec.ValidationError as exc:
            path = _path(exc)
            if body is raw:
                body = copy.deepcopy(raw)  # the caller's dict stays as the client sent it
            name = _remove(body, path, kind)
            if name is None:
                raise Rejection(422, "invalid_ping", path, REFUSED) from None
            dropped.append(name)
    raise Rejection(422, "invalid_ping", "$", REFUSED)


def with_wrong(checked: Checked, product: str, names: list[str], prefix: str = "") -> Checked:
    """`checked` with the values `convert` dropped listed, each with its reason and metric label."""
    if not names:
        return checked
    full = [prefix + name for name in names]
    return msgspec.structs.replace(
        checked,
        dropped_fields=list(dict.fromkeys([*checked.dropped_fields, *full])),
        reasons={**checked.reasons, **dict.fromkeys(full, WRONG)},
        drops=(*checked.drops, *((product, DropCode.WRONG_TYPE) for _ in full)),
    )
