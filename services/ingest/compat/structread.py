"""Reading a compat body into its product's Struct, the quick way when it provably equals the
tolerant one; with the values it could not take and the fields not kept."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from schemas.compat import CompatMapping
from services.ingest.compat import lenient, typed
from services.ingest.compat.common import (
    decode_json,
    dropped_by_design,
    require_object,
    unknown_fields,
)

S = TypeVar("S", bound=msgspec.Struct)


class StructReader(Generic[S]):
    """`kind` from a body: straight from the bytes by its strict twin (compat/typed.py), else by
    the lenient reader; returns (struct, values it could not take, fields not kept: unknown or
    dropped by design)."""

    def __init__(self, kind: type[S], mapping: CompatMapping) -> None:
        self._kind = kind
        self._mapping = mapping
        self._by_design = typed.DroppedByDesign(kind, mapping)

    def __call__(self, body: bytes) -> tuple[S, list[str], list[str]]:
        quick = typed.decode(body, self._kind)
        if quick is not None:
            return quick, [], self._by_design.of(quick)
        raw = require_object(decode_json(body))
        value, wrong = lenient.convert(raw, self._kind)
        return value, wrong, unknown_fields(raw, self._kind) + dropped_by_design(raw, self._mapping)
