"""What every compat adapter shares: decoding, keyed install ids, and finishing into checked pings.

Pure: data in, data out; the only secret is the key the context carries.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

import msgspec

from schemas.catalog import Catalogs
from schemas.compat import CompatMapping
from schemas.ping import Ping
from schemas.reader import ReadPing, Unreadable, read_ping
from services.ingest.fastdecode import convert_ping
from services.ingest.validate import Checked, Rejection, collect, decode_untyped

T = TypeVar("T")

InstanceId = Annotated[str, msgspec.Meta(min_length=1, description="the product's own install id")]
"""An install id as a product sends it: never empty (every empty one would be the same install)."""


@dataclass(frozen=True, slots=True)
class CompatContext:
    """What an adapter needs besides the body: the catalogs and the key of the keyed hashes."""

    catalogs: Catalogs
    id_key: bytes


def keyed_uuid(key: bytes, *parts: str) -> uuid.UUID:
    """HMAC-SHA256 of the parts, cut to 128 bits and marked as a version 8 (custom) UUID."""
    inner, outer = _keyed(key)
    hasher = inner.copy()
    hasher.update("\x1f".join(parts).encode())
    wrapped = outer.copy()
    wrapped.update(hasher.digest())
    digest = bytearray(wrapped.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    # msgspec makes the UUID in C: a third of uuid.UUID(bytes=...)'s time, the same UUID.
    return msgspec.convert(bytes(digest), uuid.UUID)


_BLOCK: Final = 64
"""SHA-256's block size: HMAC pads or hashes the key to it (RFC 2104)."""


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 under `key` as its two SHA-256 states, inner and outer, before any message
    (RFC 2104), copied per id: the same digest as `hmac`, whose copy() and digest() are Python
    methods (an id took 1.9 us with them, 1.35 without)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def _client_uuid(raw: str) -> uuid.UUID:
    """uuid.UUID(raw): by msgspec in C for the forms it reads (hyphenated or not, either case,
    the same UUID), by uuid.UUID for the others it takes (braces, urn:uuid:)."""
    try:
        return msgspec.convert(raw, uuid.UUID)
    except msgspec.ValidationError:
        return uuid.UUID(raw)


def install_uuid(ctx: CompatContext, product: str, raw: str, *, keep_uuid: bool) -> uuid.UUID:
    """The published install id: the client's UUID when trusted as random, else a keyed hash."""
    if keep_uuid:
        try:
            return _client_uuid(raw)
        except ValueError:
            pass
    return keyed_uuid(ctx.id_key, product, "install", raw)


def decode_json(body: bytes) -> Any:
    """Untyped JSON, or a 400 in Census's words; the rules of /v1/ping (a repeated key is refused)."""
    return decode_untyped(body)


def require_object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Rejection(422, "invalid_ping", "$", f"expected a JSON object, got {_kind(raw)}")
    return raw


def _kind(value: Any) -> str:
    return {
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null")


def _where(exc: msgspec.ValidationError) -> str:
    """The JSON path msgspec names (`$.a.b`); only the path is taken, never its wording."""
    _, sep, path = str(exc).rpartition(" - at `")
    return path.rstrip("`") if sep and path.startswith("$") else "$"


def convert(raw: Any, kind: type[T]) -> T:
    """The product's Struct from untyped JSON, or a 422 with the upstream JSON path."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise Rejection(
            422, "invalid_ping", _where(exc), "missing, of the wrong type, or out of range"
        ) from None


def convert_value(value: Any, kind: Any, path: str) -> Any:
    """One value checked against a (possibly Annotated) type, or a 422 naming `path`."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        raise Rejection(422, "invalid_ping", path, "of the wrong type, or out of range") from None


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


def unknown_fields(raw: Any, kind: type[msgspec.Struct], prefix: str = "") -> list[str]:
    """Dotted paths of the keys in `raw` that `kind` does not declare (nested ones too), each once,
    in the order met. One pass over the body: a path is remembered in a dict, never searched for
    in a list (100,000 unknown keys once took a quadratic 45 s here)."""
    found: dict[str, None] = {}
    _collect_unknown(raw, kind, prefix, found)
    return list(found)


def _collect_unknown(
    raw: Any, kind: type[msgspec.Struct], prefix: str, found: dict[str, None]
) -> None:
    if not isinstance(raw, dict):
        return
    inner_of = _inner_structs(kind)
    for key, value in raw.items():
        if key not in inner_of:
            found.setdefault(prefix + key)
            continue
        inner = inner_of[key]
        if inner is None:
            continue
        for item in value if isinstance(value, list) else (value,):
            _collect_unknown(item, inner, f"{prefix}{key}.", found)


@functools.cache
def _inner_structs(kind: type[msgspec.Struct]) -> dict[str, type[msgspec.Struct] | None]:
    """Each key `kind` declares → the Struct inside its type, if any. Computed once per Struct:
    walking the typing objects on every request was most of a compat route's time."""
    return {f.encode_name: _struct_of(f.type) for f in msgspec.structs.fields(kind)}


def present(raw: Any, path: str) -> bool:
    """Whether the dotted `path` holds a non-null value in `raw` (any item of a list counts)."""
    return _present(raw, tuple(path.split(".")), 0)


def _present(raw: Any, parts: tuple[str, ...], at: int) -> bool:
    head = parts[at]
    last = at + 1 == len(parts)
    for item in raw if isinstance(raw, list) else (raw,):
        if isinstance(item, dict):
            value = item.get(head)
            if value is not None and (last or _present(value, parts, at + 1)):
                return True
    return False


def dropped_by_design(raw: Any, mapping: CompatMapping) -> list[str]:
    """The mapping's dropped fields that the body actually carries."""
    return [path for path, parts in mapping.dropped_parts if _present(raw, parts, 0)]


BY_DESIGN: Final = "not a field Census keeps for this product"
"""The reason given for an upstream field dropped on arrival (unknown, or dropped by design)."""


def _upstream_path(mapping: CompatMapping, path: str) -> str:
    """`$.attrs.driver` → `$.platform.config.driver`: name the field the client sent."""
    inner = path[2:] if path.startswith("$.") else path
    upstream = mapping.upstream_of(inner)
    return "$." + upstream if upstream else path


def finish(
    pings: list[dict[str, Any]], dropped: list[str], mapping: CompatMapping, ctx: CompatContext
) -> Checked:
    """Canonical pings from the mapped fields, read by the tolerant reader exactly as /v1/ping
    reads its body (fields it would take as they are by the same quick path as /v1/ping's, tested
    equal); drops and errors name the upstream field."""
    taken = [convert_ping(fields, ctx.catalogs) for fields in pings]
    if None not in taken:  # the common case: the reader would drop nothing
        if not dropped:
            return Checked(typing.cast(list[Ping], taken), [])
        unique = list(dict.fromkeys(dropped))
        return Checked(typing.cast(list[Ping], taken), unique, dict.fromkeys(unique, BY_DESIGN))
    reads: list[ReadPing] = []
    for fields, quick in zip(pings, taken, strict=True):
        if quick is not None:
            reads.append(ReadPing(quick, ()))
            continue
        try:
            reads.append(read_ping(fields, ctx.catalogs))
        except Unreadable as exc:
            path = _upstream_path(mapping, exc.path)
            raise Rejection(422, exc.error, path, exc.reason, exc.product) from None
    rename = {
        drop.field: mapping.upstream_of(drop.field) or drop.field
        for read in reads
        for drop in read.drops
    }
    checked = collect(reads, rename=rename)
    names = dict.fromkeys([*dropped, *checked.dropped_fields])
    reasons: dict[str, str] = dict.fromkeys(dropped, BY_DESIGN)
    reasons.update(checked.reasons)
    return Checked(checked.pings, list(names), reasons, checked.drops, checked.undeclared)


def sent_at(value: dt.datetime | int | None, path: str) -> dt.datetime | None:
    """An RFC 3339 time as is; epoch milliseconds (JavaScript's Date.now()) converted."""
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejection(
            422, "invalid_ping", path, "expected epoch milliseconds or an RFC 3339 time"
        ) from None
