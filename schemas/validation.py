"""Checks a decoded ping against its product's catalog. Pure: data in, data out."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from schemas.catalog import Catalog, Catalogs
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


@dataclass(frozen=True, slots=True)
class _Rules:
    """A catalog's attr and count rules as plain lookups, for the common case of a valid ping."""

    bools: frozenset[str]
    strings: frozenset[str]
    enums: dict[str, frozenset[str]]
    count_max: dict[str, int]

    @classmethod
    def of(cls, catalog: Catalog) -> _Rules:
        attrs = catalog.attrs.items()
        return cls(
            bools=frozenset(k for k, spec in attrs if spec.type == "bool"),
            strings=frozenset(k for k, spec in attrs if spec.type == "string"),
            enums={k: frozenset(spec.values) for k, spec in attrs if spec.type == "enum"},
            count_max={k: spec.max for k, spec in catalog.counts.items()},
        )

    def allow(self, ping: Ping) -> bool:
        """True when the ping's attrs and counts are all declared and valid."""
        for key, value in ping.attrs.items():
            if value is True or value is False:
                if key not in self.bools:
                    return False
            elif key in self.enums:
                if value not in self.enums[key]:
                    return False
            elif key not in self.strings:
                return False
        count_max = self.count_max
        for key, number in ping.counts.items():
            limit = count_max.get(key)
            if limit is None or number > limit:
                return False
        return True


_RULES: dict[int, tuple[Catalog, _Rules]] = {}


def _rules(catalog: Catalog) -> _Rules:
    # Keyed by identity (a Catalog holds dicts, so it has no hash); the catalog is kept alive
    # alongside so its id cannot be reused.
    entry = _RULES.get(id(catalog))
    if entry is None:
        entry = _RULES[id(catalog)] = (catalog, _Rules.of(catalog))
    return entry[1]


def is_clean(ping: Ping, catalogs: Catalogs) -> bool:
    """True when the catalog takes the ping as it is: known product and event, every attr and
    count declared and valid. False says only that check_ping must look closer."""
    catalog = catalogs.get(ping.product)
    return catalog is not None and ping.event in catalog.events and _rules(catalog).allow(ping)


def check_ping(ping: Ping, catalogs: Catalogs, *, path: str = "$") -> CheckedPing:
    """Enforce the catalog; raises CatalogViolation. Undeclared attrs/counts keys are dropped."""
    if is_clean(ping, catalogs):
        return CheckedPing(ping=ping, dropped_fields=())
    # Something to drop or to refuse: the full walk says exactly what and where.
    return _check_in_full(ping, catalogs, path)


def _check_in_full(ping: Ping, catalogs: Catalogs, path: str) -> CheckedPing:
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
