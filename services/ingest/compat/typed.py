"""A product's Struct typed straight from the request bytes, when that provably is what the
tolerant way (untyped decode, `lenient.convert`, `common.unknown_fields`) would make of them with
nothing wrong and nothing unknown: one C call instead of a decode, a conversion and two walks.

The proof, per body, in C-level calls:
- the Struct's strict twin (every Struct in it with `forbid_unknown_fields`) decodes it: no key
  it does not declare, no value `lenient.convert` would drop;
- no backslash and no run of more than quickjson.LONGEST_INT digits: the untyped decoders read
  the same values msgspec does (services/ingest/quickjson.py says why). The digits are not
  looked for when every number the twin takes is an integer within int64 (a bare `int` is one in
  the twin): a longer one fails the twin, and digits anywhere else are in a string;
- the twin's encoding (`omit_defaults`) holds as many `"` as the body. A field absent from the
  body holds its default object, which the encoding leaves out, so each key and string encoded
  was in the body; equal counts then leave none over in the body: no key repeated (msgspec keeps
  the last copy) and none null (which `unknown_fields` and the dropped-by-design walk tell apart
  from absent). A value sent equal to its default may be left out too (msgspec omits by
  identity: a small int, not a decoded string): such a body goes the tolerant way.
Anything else returns None and the adapter goes the tolerant way: tests/unit/test_compat_quick.py
holds both to the same answers.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import types
import typing
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar

import msgspec

from schemas.compat import CompatMapping
from services.ingest import quickjson

S = TypeVar("S", bound=msgspec.Struct)

_ENCODE: Final = msgspec.json.Encoder().encode
_DECODE_ERRORS: Final = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    UnicodeDecodeError,
    RecursionError,
)


_INT64: Final = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""A bare `int` in a twin: an integer past int64 fails the twin, so the tolerant way reads it
(msgspec bounds no wider; the untyped decoders read up to quickjson.LONGEST_INT digits)."""


def _retyped(kind: Any) -> Any:
    """`kind` with each Struct in it (alone, in a union, a list or a dict's values) replaced by
    its strict twin, and each bare `int` by _INT64."""
    if kind is int:
        return _INT64
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return twin(kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(lambda a, b: a | b, map(_retyped, args))
    if origin is list:
        return list[_retyped(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[args[0], _retyped(args[1])]  # type: ignore[misc,valid-type]
    return kind


def _retypes(kind: Any) -> bool:
    """Whether `_retyped` changes `kind`: a Struct or a bare int in it (Annotated ints are kept)."""
    if kind is int or (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return True
    if typing.get_origin(kind) is Annotated:
        return False
    return any(_retypes(arg) for arg in typing.get_args(kind))


_PLAIN: Final = (str, bool, type(None), dt.datetime, uuid.UUID)


def _bounded(kind: Any) -> bool:
    """Whether every number a twin of `kind` takes is an integer within int64 (and none is a
    float or anything untyped): a longer run of digits then fails the twin or lies in a string,
    which every decoder reads alike, and `decode` need not look for one in the body."""
    if kind in _PLAIN or kind is int:  # a bare int is _INT64 in the twin
        return True
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return all(_bounded(field.type) for field in msgspec.structs.fields(kind))
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Annotated:
        base, *metas = args
        if base is int:
            return any(m.ge is not None and m.le is not None for m in metas)
        return base is not float and _bounded(base)
    if origin is typing.Literal:
        return all(isinstance(arg, str) for arg in args)
    if origin in (types.UnionType, typing.Union, list, dict):
        return all(_bounded(arg) for arg in args)
    return False


@functools.cache
def twin(kind: type[S]) -> type[S]:
    """A subclass of `kind` that refuses unknown keys, its Structs' fields retyped to their own
    twins, and whose encoding leaves out fields at their defaults."""
    for field in msgspec.structs.fields(kind):
        if field.default_factory is not msgspec.NODEFAULT:
            # An absent field would hold a new object the encoding may keep: the count of
            # quotes would no longer prove the body held every key encoded.
            raise TypeError(f"{kind.__name__}.{field.name}: a default_factory has no twin")
    fields = [
        (
            field.name,
            _retyped(field.type),
            msgspec.field(name=field.encode_name)
            if field.required
            else msgspec.field(default=field.default, name=field.encode_name),
        )
        for field in msgspec.structs.fields(kind)
        if _retypes(field.type)
    ]
    strict = msgspec.defstruct(
        f"Strict{kind.__name__}",
        fields,
        bases=(kind,),
        forbid_unknown_fields=True,
        omit_defaults=True,
    )
    return typing.cast(type[S], strict)


@functools.cache
def _decoder(kind: type[S]) -> msgspec.json.Decoder[S]:
    return msgspec.json.Decoder(twin(kind))


@functools.cache
def _scans(kind: type[msgspec.Struct]) -> bool:
    return not _bounded(kind)


def decode(body: bytes, kind: type[S]) -> S | None:
    """`kind` from `body` if the tolerant way would read exactly it; None: go that way."""
    if b"\\" in body or (_scans(kind) and quickjson.has_long_number(body)):
        return None
    try:
        value: S = _decoder(kind).decode(body)
    except _DECODE_ERRORS:
        return None
    if _ENCODE(value).count(b'"') != body.count(b'"'):
        return None  # a repeated key, a null or a value at its default: the tolerant way
    return value


class DroppedByDesign:
    """A mapping's dropped-by-design upstream paths as attribute names of a Struct, resolved
    once (a mapping is a tuple of dataclasses: hashing it per request cost a route 5 us)."""

    def __init__(self, kind: type[msgspec.Struct], mapping: CompatMapping) -> None:
        paths = []
        for path, parts in mapping.dropped_parts:
            names, through_list = _attributes(kind, parts)
            # A path through no list is read by one attrgetter, in C.
            read = None if through_list else operator.attrgetter(".".join(names))
            paths.append((path, names, read))
        self._paths = tuple(paths)

    def of(self, value: msgspec.Struct) -> list[str]:
        """`common.dropped_by_design` of the body `value` was decoded from by `decode` (a field
        of it is not None exactly when the body held a non-null value there)."""
        return [path for path, names, read in self._paths if _held(value, names, read)]


def _held(value: msgspec.Struct, names: tuple[str, ...], read: Callable[[Any], Any] | None) -> bool:
    if read is None:
        return _holds(value, names, 0)
    try:
        return read(value) is not None
    except AttributeError:  # an object on the way is absent (None): the names were checked
        return False


def _attributes(kind: type[msgspec.Struct], parts: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The attribute names along `parts`, and whether a list is on the way."""
    struct: Any = kind
    names: list[str] = []
    through_list = False
    for part in parts:
        by_name = {f.encode_name: f for f in msgspec.structs.fields(struct)} if struct else {}
        if part not in by_name:
            raise ValueError(f"{'.'.join(parts)} is not a field of {kind.__name__}")
        names.append(by_name[part].name)
        field_type = by_name[part].type
        struct = _struct_in(field_type)
        through_list = through_list or (len(names) < len(parts) and _has_list(field_type))
    return tuple(names), through_list


def _has_list(kind: Any) -> bool:
    return typing.get_origin(kind) is list or any(_has_list(arg) for arg in typing.get_args(kind))


def _struct_in(kind: Any) -> type[msgspec.Struct] | None:
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    for arg in typing.get_args(kind):
        found = _struct_in(arg)
        if found is not None:
            return found
    return None


def _holds(value: Any, names: tuple[str, ...], at: int) -> bool:
    for item in value if isinstance(value, list) else (value,):
        inner = getattr(item, names[at])
        if inner is not None and (at + 1 == len(names) or _holds(inner, names, at + 1)):
            return True
    return False
