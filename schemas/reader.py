"""The tolerant reader (DESIGN §3): untyped JSON in, a countable Ping and what was dropped out.

A ping is refused only when it cannot be counted at all: it is not an object, its product is
unknown, its install id is missing or malformed, or its event is missing. Every other wrong field
costs that field alone: it is dropped (or, for a closed list, counted under the reserved value
`other`) and reported back with a reason. Every client string that is kept is a value of a closed
list or a match of a strict pattern from the product's catalog, so free text (a hostname, an
address) is never stored. Pure: data in, data out. The texts are Census's own.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.catalog import OTHER, Catalog, Catalogs, per_catalog
from schemas.jsonerrors import shown as _shown
from schemas.ping import KEY_PATTERN, MAX_COUNT, UNKNOWN, AttrValue, Ping

MAX_ID_LENGTH: Final = 64
_KEY: Final = re.compile(KEY_PATTERN)
_LEADING_V: Final = re.compile(r"^[vV](?=[0-9])")


class DropCode(enum.StrEnum):
    """Why a field was dropped or replaced: a fixed set, so it can label a metric."""

    UNDECLARED = "undeclared"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    NOT_IN_LIST = "not_in_list"
    BAD_FORMAT = "bad_format"
    UNKNOWN_EVENT = "unknown_event"


@dataclass(frozen=True, slots=True)
class Drop:
    """One field of a ping that was not kept as sent: `field` as in `dropped_fields`."""

    field: str
    code: DropCode
    reason: str


@dataclass(frozen=True, slots=True)
class ReadPing:
    ping: Ping
    drops: tuple[Drop, ...]


@dataclass(frozen=True, slots=True)
class Unreadable(Exception):
    """The ping cannot be counted: `error` is `invalid_ping` or `unknown_product`."""

    error: str
    path: str
    reason: str
    product: str | None = None


class OutOfRange:
    """Stands for a JSON number too large to convert (a decoder hook returns it); never kept."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<a number out of range>"


OUT_OF_RANGE: Final = OutOfRange()


@dataclass(frozen=True, slots=True)
class Rules:
    """One catalog's rules as plain lookups, built once per catalog."""

    catalog: Catalog
    version: re.Pattern[str]
    platforms: frozenset[str]
    oses: frozenset[str]
    arches: frozenset[str]
    bools: frozenset[str]
    enums: dict[str, frozenset[str]]
    strings: dict[str, re.Pattern[str]]
    count_max: dict[str, int]
    unbounded: frozenset[str]
    """Counts whose limit is the type's own (MAX_COUNT): a typed ping's value is within it."""
    lowest_limit: int = 0
    """The smallest limit of any declared count: numbers under it are within every limit, so
    most pings need no look-up per count (13 of them were a third of `allows` for Pulse)."""
    checks: dict[str, frozenset[str] | re.Pattern[str] | None] = field(default_factory=dict)
    """Each declared attr → its enum values, its pattern, or None (a bool): `allows` looks up
    each attr once (the three lookups of bools, enums and strings were a third of its time)."""
    pairs: frozenset[tuple[str, str | bool]] = frozenset()
    """Every (attr, value) a bool or enum attr takes as it is: attrs made of those only are
    checked as one set containment, in C (the loop below was a sixth of a batched ping)."""
    versions: dict[str, bool] = field(default_factory=dict)
    """clean_version's answers, at most _MEMO of them: a fleet sends few distinct versions."""
    known: set[tuple[str, AttrValue]] = field(default_factory=set)
    """`pairs` and the (string attr, value) pairs whose pattern matched the value whole, at most
    _TEXT_MEMO of those: a fleet sends few distinct app names, OS versions and CPU models, so a
    ping's attrs are most often checked by one set containment, in C (with a memo of pattern
    answers alone, any string attr walked all fifteen attrs of a Proxmox report in Python: its
    `is_clean` took 3.2 us, now 1.9)."""

    def __post_init__(self) -> None:
        self.known.update(self.pairs)

    @classmethod
    def of(cls, catalog: Catalog) -> Rules:
        attrs = catalog.attrs.items()
        return cls(
            catalog=catalog,
            version=re.compile(catalog.version_pattern),
            platforms=frozenset(catalog.platforms),
            oses=frozenset(catalog.oses),
            arches=frozenset(catalog.arches),
            bools=frozenset(k for k, spec in attrs if spec.type == "bool"),
            enums={k: frozenset(spec.values) for k, spec in attrs if spec.type == "enum"},
            strings={k: re.compile(spec.pattern) for k, spec in attrs if spec.type == "string"},
            count_max={k: spec.max for k, spec in catalog.counts.items()},
            unbounded=frozenset(k for k, spec in catalog.counts.items() if spec.max >= MAX_COUNT),
            lowest_limit=min((spec.max for spec in catalog.counts.values()), default=0),
            checks={
                k: None
                if spec.type == "bool"
                else frozenset(spec.values)
                if spec.type == "enum"
                else re.compile(spec.pattern)
                for k, spec in attrs
            },
            pairs=frozenset(
                (k, value)
                for k, spec in attrs
                for value in ((True, False) if spec.type == "bool" else spec.values)
                if spec.type in ("bool", "enum")
            ),
        )

    def clean_version(self, version: str) -> bool:
        known = self.versions.get(version)
        if known is None:
            known = version == UNKNOWN or (
                self.version.fullmatch(version) is not None and _LEADING_V.match(version) is None
            )
            if len(self.versions) >= _MEMO:
                self.versions.clear()
            self.versions[version] = known
        return known

    def allows_envelope(self, ping: Ping) -> bool:
        """True when the reader would keep the event, version, platform, os and arch as they are."""
        return (
            ping.event in self.catalog.events
            and self.clean_version(ping.version)
            and ping.platform in self.platforms
            and ping.os in self.oses
            and ping.arch in self.arches
        )

    def allows(self, ping: Ping) -> bool:
        """True when the reader would keep `ping` exactly as it is (nothing to drop or replace):
        the quick check of an already typed ping."""
        if not self.allows_envelope(ping):
            return False
        # Attr values are str or bool (AttrValue): no 1 or 0 can stand for True or False here.
        attrs = ping.attrs
        if not attrs.items() <= self.known and not self._attrs_allowed(attrs):
            return False
        counts = ping.counts
        if counts.keys() <= self.unbounded:
            return True  # no limit below the type's own: checked as one set operation
        count_max = self.count_max
        if counts.keys() <= count_max.keys() and max(counts.values()) <= self.lowest_limit:
            return True  # declared, and all within the lowest limit of any count: in C
        for key, number in counts.items():
            limit = count_max.get(key)
            if limit is None or number > limit:
                return False
        return True

    def _attrs_allowed(self, attrs: dict[str, AttrValue]) -> bool:
        """Attr by attr, when `known` does not hold them all: a string attr's value not seen
        yet (remembered once its pattern matched), or a refusal."""
        checks, known = self.checks, self.known
        for key, value in attrs.items():
            if (key, value) in known:
                continue
            check = checks.get(key)
            if not isinstance(check, re.Pattern):
                return False  # undeclared, or a bool or enum attr whose pair is not in `pairs`
            if value is True or value is False or check.fullmatch(value) is None:
                return False
            if len(known) >= len(self.pairs) + _TEXT_MEMO:
                known.clear()
                known.update(self.pairs)
            known.add((key, value))
        return True


_MEMO: Final = 1024
_TEXT_MEMO: Final = 4096
rules_of: Final = per_catalog(Rules.of)
"""The Rules of a catalog, made once per Catalog."""


def is_clean(ping: Ping, catalogs: Catalogs) -> bool:
    """True when the reader would take the typed `ping` exactly as it is."""
    catalog = catalogs.get(ping.product)
    return catalog is not None and rules_of(catalog).allows(ping)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | OutOfRange):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value of another kind"


def _key_name(key: str) -> str:
    return key if _KEY.match(key) else _shown(key, 64)


class _Reader:
    """Reads one ping's fields, collecting drops; the methods raise Unreadable for identity."""

    def __init__(self, raw: Mapping[str, Any], catalogs: Catalogs, path: str) -> None:
        self.raw = raw
        self.catalogs = catalogs
        self.path = path
        self.drops: list[Drop] = []

    def drop(self, field: str, code: DropCode, reason: str) -> None:
        self.drops.append(Drop(field, code, reason))

    def product(self) -> Catalog:
        value = self.raw.get("product")
        where = f"{self.path}.product"
        known = ", ".join(self.catalogs.products)
        if value is None:
            raise Unreadable(
                "invalid_ping", where, f"missing: every ping names its product ({known})"
            )
        if not isinstance(value, str):
            raise Unreadable("invalid_ping", where, f"expected a product name, got {_kind(value)}")
        catalog = self.catalogs.get(value)
        if catalog is None:
            raise Unreadable(
                "unknown_product", where, f"unknown product '{_shown(value)}'; known: {known}"
            )
        return catalog

    def install_id(self, product: str) -> uuid.UUID:
        value = self.raw.get("install_id")
        where = f"{self.path}.install_id"
        if isinstance(value, uuid.UUID):
            return value
        if value is None:
            raise Unreadable(
                "invalid_ping",
                where,
                "missing: a ping is counted by its install id (a UUID)",
                product,
            )
        if not isinstance(value, str):
            raise Unreadable(
                "invalid_ping", where, f"expected a UUID string, got {_kind(value)}", product
            )
        if len(value) <= MAX_ID_LENGTH:
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        raise Unreadable(
            "invalid_ping",
            where,
            f"'{_shown(value)}' is not a UUID (such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301)",
            product,
        )

    def event(self, catalog: Catalog) -> str:
        value = self.raw.get("event")
        where = f"{self.path}.event"
        if value is None:
            raise Unreadable(
                "invalid_ping", where, "missing: every ping names its event", catalog.product
            )
        if not isinstance(value, str):
            raise Unreadable(
                "invalid_ping",
                where,
                f"expected an event name, got {_kind(value)}",
                catalog.product,
            )
        if value in catalog.events:
            return value
        self.drop(
            "event",
            DropCode.UNKNOWN_EVENT,
            f"not an event of {catalog.product} ({', '.join(catalog.events)}); counted as '{OTHER}'",
        )
        return OTHER

    def version(self, rules: Rules) -> str:
        value = self.raw.get("version")
        if value is None or value == UNKNOWN:
            return UNKNOWN
        if not isinstance(value, str):
            self.drop("version", DropCode.WRONG_TYPE, f"expected a string, got {_kind(value)}")
            return UNKNOWN
        normal = _LEADING_V.sub("", value.strip(), count=1)
        if len(normal) <= 64 and rules.version.fullmatch(normal):
            return normal
        self.drop(
            "version",
            DropCode.BAD_FORMAT,
            "not a version (digits and dots, an optional short pre-release tag); counted as 'unknown'",
        )
        return UNKNOWN

    def closed(self, name: str, allowed: frozenset[str]) -> str:
        """platform, os or arch: a value of the catalog's list, `other`, or `unknown`."""
        value = self.raw.get(name)
        if value is None:
            return UNKNOWN
        if not isinstance(value, str):
            self.drop(
                name,
                DropCode.WRONG_TYPE,
                f"expected a string, got {_kind(value)}; counted as '{UNKNOWN}'",
            )
            return UNKNOWN
        if value in allowed:
            return value
        lowered = value.strip().lower()
        if lowered in allowed:
            return lowered
        self.drop(name, DropCode.NOT_IN_LIST, f"not one of the known values; counted as '{OTHER}'")
        return OTHER

    def sent_at(self) -> dt.datetime | None:
        value = self.raw.get("sent_at")
        if value is None:
            return None
        moment = read_time(value)
        if moment is None:
            self.drop("sent_at", DropCode.BAD_FORMAT, "not an RFC 3339 time; ignored")
        return moment

    def ping_id(self) -> uuid.UUID | None:
        value = self.raw.get("ping_id")
        if value is None or isinstance(value, uuid.UUID):
            return value
        if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.drop("ping_id", DropCode.BAD_FORMAT, "not a UUID; ignored")
        return None

    def _mapping(self, name: str) -> Mapping[str, Any]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return value
        self.drop(name, DropCode.WRONG_TYPE, f"expected an object, got {_kind(value)}")
        return {}

    def attrs(self, rules: Rules) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {}
        product = rules.catalog.product
        for key, value in self._mapping("attrs").items():
            # A declared key matches the key pattern (the catalog loader says so), so only an
            # undeclared one needs escaping before it is shown: no regex per kept key.
            field = f"attrs.{key}"
            if value is None:
                continue  # null is how several clients say "not known": nothing to keep
            if key in rules.bools:
                if isinstance(value, bool):
                    attrs[key] = value
                else:
                    self.drop(field, DropCode.WRONG_TYPE, f"expected a boolean, got {_kind(value)}")
            elif key in rules.enums:
                if isinstance(value, str) and value in rules.enums[key]:
                    attrs[key] = value
                else:
                    attrs[key] = OTHER
                    code = DropCode.NOT_IN_LIST if isinstance(value, str) else DropCode.WRONG_TYPE
                    self.drop(field, code, f"not one of the declared values; counted as '{OTHER}'")
            elif key in rules.strings:
                if (
                    isinstance(value, str)
                    and len(value) <= 64
                    and rules.strings[key].fullmatch(value)
                ):
                    attrs[key] = value
                elif isinstance(value, str):
                    self.drop(field, DropCode.BAD_FORMAT, "does not match the declared format")
                else:
                    self.drop(field, DropCode.WRONG_TYPE, f"expected a string, got {_kind(value)}")
            else:
                self.drop(
                    f"attrs.{_key_name(key)}",
                    DropCode.UNDECLARED,
                    f"not declared by the {product} catalog",
                )
        return attrs

    def counts(self, rules: Rules) -> dict[str, int]:
        counts: dict[str, int] = {}
        product = rules.catalog.product
        for key, value in self._mapping("counts").items():
            field = f"counts.{key}"  # declared keys match the key pattern, as for attrs
            limit = rules.count_max.get(key)
            if limit is None:
                self.drop(
                    f"counts.{_key_name(key)}",
                    DropCode.UNDECLARED,
                    f"not declared by the {product} catalog",
                )
                continue
            if value is None:
                continue
            number = whole_number(value)
            if number is None:
                if isinstance(value, OutOfRange | float) and not isinstance(value, bool):
                    self.drop(
                        field, DropCode.OUT_OF_RANGE, f"expected a whole number from 0 to {limit}"
                    )
                else:
                    self.drop(
                        field, DropCode.WRONG_TYPE, f"expected a whole number, got {_kind(value)}"
                    )
            elif not 0 <= number <= limit:
                self.drop(
                    field, DropCode.OUT_OF_RANGE, f"expected a whole number from 0 to {limit}"
                )
            else:
                counts[key] = number
        return counts


def whole_number(value: Any) -> int | None:
    """An int, or a float that is one (JavaScript clients may send 3.0); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def read_time(value: Any) -> dt.datetime | None:
    """A time as the reader keeps it (a time without an offset is UTC); None: not a time.

    A fraction finer than a microsecond is rounded half up to the microsecond, as msgspec's
    typed decode of /v1/ping's quick path does (fromisoformat alone truncates it), so a
    `sent_at` is the same whichever path read its ping."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if _rounds_up(value):
            try:
                parsed += _ONE_MICROSECOND
            except OverflowError:
                return None  # 9999-12-31T23:59:59.9999995: no time after it to round to
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
    return None


_ONE_MICROSECOND: Final = dt.timedelta(microseconds=1)


def _rounds_up(value: str) -> bool:
    """Whether the fraction of the ISO time `value` has a seventh digit of 5 or more."""
    dot = value.find(".")
    if dot == -1 or len(value) <= dot + 7:
        return False
    fraction = value[dot + 1 : dot + 8]
    return fraction.isdigit() and fraction[6] >= "5"


def read_ping(raw: Any, catalogs: Catalogs, *, path: str = "$") -> ReadPing:
    """Read one ping from untyped JSON (or a dict of already typed values); raises Unreadable."""
    if not isinstance(raw, Mapping):
        raise Unreadable("invalid_ping", path, f"expected a ping (a JSON object), got {_kind(raw)}")
    reader = _Reader(raw, catalogs, path)
    catalog = reader.product()
    rules = rules_of(catalog)
    install_id = reader.install_id(catalog.product)
    ping = Ping(
        product=catalog.product,
        install_id=install_id,
        event=reader.event(catalog),
        version=reader.version(rules),
        platform=reader.closed("platform", rules.platforms),
        os=reader.closed("os", rules.oses),
        arch=reader.closed("arch", rules.arches),
        sent_at=reader.sent_at(),
        ping_id=reader.ping_id(),
        attrs=reader.attrs(rules),
        counts=reader.counts(rules),
    )
    return ReadPing(ping, tuple(reader.drops))
