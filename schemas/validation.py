"""Checks a decoded ping against its product's catalog. Pure: data in, data out."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from schemas.catalog import Catalogs
from schemas.ping import AttrValue, Ping


@dataclass(frozen=True, slots=True)
class CatalogViolation(Exception):
    """The ping breaks its catalog: `path` is the JSON path, `reason` says which rule."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} - at `{self.path}`"


@dataclass(frozen=True, slots=True)
class CheckedPing:
    """A ping that passed its catalog, with undeclared keys removed and listed."""

    ping: Ping
    dropped_fields: tuple[str, ...]


def check_ping(ping: Ping, catalogs: Catalogs, *, path: str = "$") -> CheckedPing:
    """Enforce the catalog; raises CatalogViolation. Undeclared attrs/counts keys are dropped."""
    catalog = catalogs.get(ping.product)
    if catalog is None:
        raise CatalogViolation(
            f"{path}.product",
            f"unknown product {ping.product!r}; known: {', '.join(catalogs.products)}",
        )
    if ping.event not in catalog.events:
        raise CatalogViolation(
            f"{path}.event",
            f"unknown event {ping.event!r} for {ping.product}; allowed: {', '.join(catalog.events)}",
        )
    dropped: list[str] = []
    attrs: dict[str, AttrValue] = {}
    for key, value in ping.attrs.items():
        spec = catalog.attrs.get(key)
        if spec is None:
            dropped.append(f"attrs.{key}")
            continue
        where = f"{path}.attrs.{key}"
        if spec.type == "bool":
            if not isinstance(value, bool):
                raise CatalogViolation(where, "expected a boolean")
        elif isinstance(value, bool):
            raise CatalogViolation(where, "expected a string")
        elif spec.type == "enum" and value not in spec.values:
            raise CatalogViolation(
                where, f"{value!r} is not allowed; allowed: {', '.join(spec.values)}"
            )
        attrs[key] = value
    counts: dict[str, int] = {}
    for key, number in ping.counts.items():
        count_spec = catalog.counts.get(key)
        if count_spec is None:
            dropped.append(f"counts.{key}")
            continue
        if number > count_spec.max:
            raise CatalogViolation(f"{path}.counts.{key}", f"expected a count <= {count_spec.max}")
        counts[key] = number
    if dropped:
        ping = msgspec.structs.replace(ping, attrs=attrs, counts=counts)
    return CheckedPing(ping=ping, dropped_fields=tuple(dropped))
