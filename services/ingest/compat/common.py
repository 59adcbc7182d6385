"""What every compat adapter shares: decoding, keyed install ids, and finishing into checked pings.

Pure: data in, data out; the only secret is the key the context carries.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

import msgspec

from schemas.catalog import Catalogs
from schemas.compat import CompatMapping
from schemas.errors import decode_error
from schemas.ping import Ping
from schemas.validation import CatalogViolation, check_ping
from services.ingest.validate import Checked, Rejection
from services.ingest.validate import _refuse_repeated_keys as refuse_repeated_keys

T = TypeVar("T")

_ANY: Final = msgspec.json.Decoder()
TOO_DEEP: Final = "JSON nested too deeply to be a ping"

InstanceId = Annotated[str, msgspec.Meta(min_length=1, description="the product's own install id")]
"""An install id as a product sends it: never empty (every empty one would be the same install)."""


@dataclass(frozen=True, slots=True)
class CompatContext:
    """What an adapter needs besides the body: the catalogs and the key of the keyed hashes."""

    catalogs: Catalogs
    id_key: bytes


def keyed_uuid(key: bytes, *parts: str) -> uuid.UUID:
    """HMAC-SHA256 of the parts, cut to 128 bits and marked as a version 8 (custom) UUID."""
    digest = bytearray(hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))


def install_uuid(ctx: CompatContext, product: str, raw: str, *, keep_uuid: bool) -> uuid.UUID:
    """The published install id: the client's UUID when trusted as random, else a keyed hash."""
    if keep_uuid:
        try:
            return uuid.UUID(raw)
        except ValueError:
            pass
    return keyed_uuid(ctx.id_key, product, "install", raw)


def decode_json(body: bytes) -> Any:
    """Untyped JSON, or a 400: not JSON (naming the position), or an object that repeats a key."""
    raw = parse_json(body)
    refuse_repeats(body)
    return raw


def parse_json(body: bytes) -> Any:
    """Untyped JSON, or a 400 naming the position; repeated keys are not looked for."""
    try:
        return _ANY.decode(body)
    except msgspec.DecodeError as exc:
        raise Rejection(400, "invalid_json", "$", decode_error(exc, body).reason) from None
    except UnicodeDecodeError as exc:
        raise Rejection(
            400, "invalid_json", "$", f"not UTF-8: invalid byte at byte {exc.start}"
        ) from None
    except RecursionError:
        raise Rejection(400, "invalid_json", "$", TOO_DEEP) from None


def refuse_repeats(body: bytes) -> None:
    """/v1/ping's rule: an object that repeats a key is refused (msgspec would keep the last
    copy). No canonical pings to count quotes against, so the exact check runs every time."""
    refuse_repeated_keys(body, [])


def require_object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Rejection(422, "invalid_ping", "$", f"Expected `object`, got `{_kind(raw)}`")
    return raw


def _kind(value: Any) -> str:
    return {list: "array", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), "null"
    )


def convert(raw: Any, kind: type[T]) -> T:
    """The product's Struct from untyped JSON, or a 422 with the upstream JSON path."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        reason, sep, path = message.rpartition(" - at `")
        raise Rejection(
            422, "invalid_ping", path.rstrip("`") if sep else "$", reason if sep else message
        ) from None


def convert_value(value: Any, kind: Any, path: str) -> Any:
    """One value checked against a (possibly Annotated) type, or a 422 naming `path`."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        reason = str(exc).rpartition(" - at `")[0] or str(exc)
        raise Rejection(422, "invalid_ping", path, reason) from None


def _struct_of(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct inside `S`, `S | None` or `list[S]`, if any."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union, list):
        for arg in typing.get_args(kind):
            found = _struct_of(arg)
            if found is not None:
                return found
    return None


def _is_list(kind: Any) -> bool:
    if typing.get_origin(kind) is list:
        return True
    return any(typing.get_origin(arg) is list for arg in typing.get_args(kind))


def upstream_fields(kind: type[msgspec.Struct], prefix: str = "") -> list[str]:
    """Every dotted leaf path a Struct accepts (objects are containers; lists are fields too)."""
    paths: list[str] = []
    for field in msgspec.structs.fields(kind):
        path = prefix + field.encode_name
        inner = _struct_of(field.type)
        if inner is None or _is_list(field.type):
            paths.append(path)  # a leaf, or a list (a field of its own as well as a container)
        if inner is not None:
            paths.extend(upstream_fields(inner, path + "."))
    return paths


def unknown_fields(raw: Any, kind: type[msgspec.Struct]) -> list[str]:
    """Dotted paths of the keys in `raw` that `kind` does not declare (nested ones too), each once,
    in the order met. One pass over the body: a path is remembered in a dict, never searched for
    in a list (100,000 unknown keys once took a quadratic 45 s here)."""
    found: dict[str, None] = {}
    _collect_unknown(raw, kind, "", found)
    return list(found)


def _collect_unknown(
    raw: Any, kind: type[msgspec.Struct], prefix: str, found: dict[str, None]
) -> None:
    if not isinstance(raw, dict):
        return
    fields = _fields_of(kind)
    for key, value in raw.items():
        field = fields.get(key)
        if field is None:
            found.setdefault(prefix + key)
            continue
        inner = _struct_of(field.type)
        if inner is None:
            continue
        for item in value if isinstance(value, list) else (value,):
            _collect_unknown(item, inner, f"{prefix}{key}.", found)


@functools.cache
def _fields_of(kind: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.encode_name: f for f in msgspec.structs.fields(kind)}


def present(raw: Any, path: str) -> bool:
    """Whether the dotted `path` holds a non-null value in `raw` (any item of a list counts)."""
    head, _, rest = path.partition(".")
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if (
            isinstance(item, dict)
            and item.get(head) is not None
            and (not rest or present(item[head], rest))
        ):
            return True
    return False


def dropped_by_design(raw: Any, mapping: CompatMapping) -> list[str]:
    """The mapping's dropped fields that the body actually carries."""
    return [path for path in mapping.dropped if present(raw, path)]


def _upstream_path(mapping: CompatMapping, path: str) -> str:
    """`$.attrs.driver` → `$.platform.config.driver`: name the field the client sent."""
    inner = path[2:] if path.startswith("$.") else path
    upstream = mapping.upstream_of(inner)
    return "$." + upstream if upstream else path


def finish(
    pings: list[dict[str, Any]], dropped: list[str], mapping: CompatMapping, ctx: CompatContext
) -> Checked:
    """Canonical pings from the mapped fields: the canonical Struct's constraints and the catalog
    are enforced exactly as for /v1/ping, and errors name the upstream field."""
    checked: list[Ping] = []
    seen = dict.fromkeys(dropped)
    for fields in pings:
        try:
            ping = msgspec.convert(fields, Ping)
        except msgspec.ValidationError as exc:
            reason, _, path = str(exc).rpartition(" - at `")
            raise Rejection(
                422, "invalid_ping", _upstream_path(mapping, path.rstrip("`")), reason
            ) from None
        try:
            result = check_ping(ping, ctx.catalogs)
        except CatalogViolation as exc:
            error = "unknown_event" if exc.path == "$.event" else "invalid_ping"
            raise Rejection(422, error, _upstream_path(mapping, exc.path), exc.reason) from None
        checked.append(result.ping)
        for name in result.dropped_fields:
            seen.setdefault(mapping.upstream_of(name) or name)
    return Checked(checked, list(seen))


def sent_at(value: dt.datetime | int | None, path: str) -> dt.datetime | None:
    """An RFC 3339 time as is; epoch milliseconds (JavaScript's Date.now()) converted."""
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejection(
            422, "invalid_ping", path, "Expected epoch milliseconds or an RFC 3339 time"
        ) from None
