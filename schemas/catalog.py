"""Product catalogs (`schemas/products/<product>.toml`): the allowlist of what a product may send."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal, TypeVar

import msgspec
import msgspec.structs

from schemas.ping import KEY_PATTERN, MAX_COUNT, SLUG_PATTERN, UNKNOWN

PRODUCTS_DIR: Final = Path(__file__).with_name("products")

Purpose = Annotated[str, msgspec.Meta(min_length=8, max_length=300)]

OTHER: Final = "other"
"""Reserved value an unknown value is counted under: in every enum, in `platforms`, `oses` and
`arches`, and as the event of a known product's unknown event. The loader adds it to each list."""


DEFAULT_VERSION_PATTERN: Final = (
    r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}(-[0-9A-Za-z]{1,12}(\.[0-9A-Za-z]{1,12}){0,2})?$"
)
"""Up to three dot-separated numbers, an optional short pre-release tag, no build metadata. The
validator strips one leading `v` before matching, so `v6.0.0` and `6.0.0` are one version. Not
four numbers: that is an IPv4 address, which must never be stored (`ADDRESS_PROBES`)."""

ADDRESS_PROBES: Final = (
    "10.0.0.7",
    "192.168.100.200",
    "fe80::1",
    "db01.example.com",
    "census-marker.example.org",
    "admin@example.com",
)
"""Values every version pattern and string-attr pattern must refuse (addresses, host names, mail
addresses): the loader checks it, so no catalog can let one be stored."""

DEFAULT_OSES: Final = ("linux", "windows", "darwin", "freebsd")
"""Go's GOOS names, as Pulse sends them; adapters map other spellings onto these (Node's
`Linux`/`Windows_NT`/`win32` → `linux`/`windows`)."""

DEFAULT_ARCHES: Final = ("amd64", "arm64", "arm", "386")
"""Go's GOARCH names, as Pulse sends them (its release builds are amd64, arm64, armv6/v7 → `arm`
and 386); adapters map other spellings onto these (Node's `x64`/`ia32`, `uname -m`'s
`x86_64`/`aarch64`)."""

ENVELOPE_VALUE_PATTERN: Final = "^[a-z0-9][a-z0-9._-]{0,31}$"
"""What a declared platform or os value looks like (it fits the ping's `platform` and `os`)."""
ARCH_VALUE_PATTERN: Final = "^[a-z0-9][a-z0-9._-]{0,15}$"
"""What a declared arch value looks like (it fits the ping's `arch`)."""


class AttrSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One declared attr: a bool, a string matching `pattern` (≤ 64) or an enum of values."""

    type: Literal["bool", "string", "enum"]
    purpose: Purpose
    example: str | bool
    values: list[str] = []
    """An enum's allowed values; after loading they always include OTHER."""
    pattern: str = ""
    """A string attr's anchored regex (`^...$`), matched whole (see `matches`)."""
    dimension: bool = False


class CountSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One declared count: a non-negative integer up to `max`."""

    purpose: Purpose
    example: int
    max: Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)] = MAX_COUNT


class EventSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    purpose: Purpose


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything one product is allowed to send, and why."""

    product: Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN)]
    name: str
    description: Purpose
    docs: str
    platforms: list[str]
    """Closed list for the ping's `platform`; after loading it includes OTHER and UNKNOWN."""
    events: dict[Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN)], EventSpec]
    version_pattern: str = DEFAULT_VERSION_PATTERN
    """Anchored regex a ping's `version` (one leading `v` stripped) must match whole."""
    oses: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_OSES))
    """Closed list for the ping's `os`; after loading it includes OTHER and UNKNOWN."""
    arches: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_ARCHES))
    """Closed list for the ping's `arch`; after loading it includes OTHER and UNKNOWN."""
    attrs: dict[Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)], AttrSpec] = {}
    counts: dict[Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)], CountSpec] = {}

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The attrs that rollups group by, in declaration order."""
        return tuple(name for name, spec in self.attrs.items() if spec.dimension)


class CatalogError(ValueError):
    """A catalog file is malformed or inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class Catalogs:
    """All loaded catalogs, by product slug."""

    by_product: Mapping[str, Catalog]

    def get(self, product: str) -> Catalog | None:
        return self.by_product.get(product)

    @property
    def products(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_product))


_Built = TypeVar("_Built")


def per_catalog(build: Callable[[Catalog], _Built]) -> Callable[[Catalog], _Built]:
    """`build(catalog)` made once per Catalog object and remembered by identity (a Catalog holds
    dicts, so it has no hash); the table keeps each catalog alive, so its id is never reused."""
    table: dict[int, tuple[Catalog, _Built]] = {}

    def of(catalog: Catalog) -> _Built:
        found = table.get(id(catalog))
        if found is None:
            found = table[id(catalog)] = (catalog, build(catalog))
        return found[1]

    return of


@functools.cache
def compiled(pattern: str) -> re.Pattern[str]:
    """A catalog pattern, compiled once."""
    return re.compile(pattern)


def matches(pattern: str, value: str) -> bool:
    """True when `value` matches `pattern` whole; `re.match` with `$` also takes a trailing newline."""
    return compiled(pattern).fullmatch(value) is not None


def _accepts(pattern: str, value: str) -> bool:
    try:
        return matches(pattern, value)
    except re.error:
        return False  # reported by _pattern_problems


def _leak_problems(where: str, pattern: str) -> list[str]:
    leaking = [probe for probe in ADDRESS_PROBES if _accepts(pattern, probe)]
    return [f"{where}: accepts {leaking!r}, an address or host name"] if leaking else []


def _pattern_problems(where: str, pattern: str) -> list[str]:
    if not pattern.startswith("^") or not pattern.endswith("$"):
        return [f"{where}: a pattern is anchored, ^...$"]
    try:
        compiled(pattern)
    except re.error as exc:
        return [f"{where}: does not compile ({exc})"]
    return []


def _values_problems(where: str, values: Sequence[str], shape: str, what: str) -> list[str]:
    if len(set(values)) != len(values):
        return [f"{where}: duplicate values"]
    bad = [v for v in values if not matches(shape, v)]
    return [f"{where}: {bad!r} must each match {shape} ({what})"] if bad else []


def _attr_problems(name: str, attr: AttrSpec) -> list[str]:
    where = f"$.attrs.{name}"
    problems: list[str] = []
    if attr.type == "enum":
        if not attr.values:
            problems.append(f"{where}.values: an enum needs at least one allowed value")
        elif len(set(attr.values)) != len(attr.values):
            problems.append(f"{where}.values: duplicate values")
        elif any(len(v) > 64 or not v for v in attr.values):
            problems.append(f"{where}.values: each value is 1 to 64 characters")
        elif attr.example not in attr.values:
            problems.append(f"{where}.example: {attr.example!r} is not one of its values")
    elif attr.values:
        problems.append(f"{where}.values: only an enum has values")
    if attr.type == "string":
        if not attr.pattern:
            problems.append(f"{where}.pattern: a string attr needs a pattern of what it accepts")
        else:
            found = _pattern_problems(f"{where}.pattern", attr.pattern)
            problems += found
            if (
                not found
                and isinstance(attr.example, str)
                and not matches(attr.pattern, attr.example)
            ):
                problems.append(f"{where}.example: {attr.example!r} does not match its pattern")
    elif attr.pattern:
        problems.append(f"{where}.pattern: only a string attr has a pattern")
    if attr.type == "bool" and not isinstance(attr.example, bool):
        problems.append(f"{where}.example: a bool attr needs a true/false example")
    if attr.type != "bool" and isinstance(attr.example, bool):
        problems.append(f"{where}.example: a {attr.type} attr needs a string example")
    if isinstance(attr.example, str) and len(attr.example) > 64:
        problems.append(f"{where}.example: longer than 64 characters")
    return problems


def _check_consistency(catalog: Catalog) -> list[str]:
    problems: list[str] = []
    for name, attr in catalog.attrs.items():
        problems += _attr_problems(name, attr)
    for name, count in catalog.counts.items():
        if not 0 <= count.example <= count.max:
            problems.append(f"$.counts.{name}.example: outside 0..{count.max}")
    overlap = set(catalog.attrs) & set(catalog.counts)
    if overlap:
        problems.append(f"keys declared both as attrs and counts: {sorted(overlap)}")
    if not catalog.events:
        problems.append("$.events: a product declares at least one event")
    if OTHER in catalog.events:
        problems.append(f"$.events.{OTHER}: reserved for the unknown events of a known product")
    problems += _pattern_problems("$.version_pattern", catalog.version_pattern)
    problems += _leak_problems("$.version_pattern", catalog.version_pattern)
    for name, attr in catalog.attrs.items():
        if attr.pattern:
            problems += _leak_problems(f"$.attrs.{name}.pattern", attr.pattern)
    for field, values, shape, most in (
        ("platforms", catalog.platforms, ENVELOPE_VALUE_PATTERN, 32),
        ("oses", catalog.oses, ENVELOPE_VALUE_PATTERN, 32),
        ("arches", catalog.arches, ARCH_VALUE_PATTERN, 16),
    ):
        problems += _values_problems(
            f"$.{field}", values, shape, f"lower-case, at most {most} characters"
        )
    return problems


def _with_reserved(values: Sequence[str], *reserved: str) -> list[str]:
    return [*values, *(r for r in reserved if r not in values)]


def _add_reserved(catalog: Catalog) -> Catalog:
    """The loaded form: OTHER in every enum, OTHER and UNKNOWN in platforms, oses and arches."""
    attrs = {
        name: (
            msgspec.structs.replace(spec, values=_with_reserved(spec.values, OTHER))
            if spec.type == "enum"
            else spec
        )
        for name, spec in catalog.attrs.items()
    }
    return msgspec.structs.replace(
        catalog,
        attrs=attrs,
        platforms=_with_reserved(catalog.platforms, OTHER, UNKNOWN),
        oses=_with_reserved(catalog.oses, OTHER, UNKNOWN),
        arches=_with_reserved(catalog.arches, OTHER, UNKNOWN),
    )


def parse_catalog(text: bytes | str, *, source: str) -> Catalog:
    """Decode and check one catalog; raises CatalogError naming `source` and the field."""
    try:
        catalog = msgspec.toml.decode(text, type=Catalog)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CatalogError(f"{source}: {exc}") from None
    problems = _check_consistency(catalog)
    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    return _add_reserved(catalog)


_FILE_NAME: Final = re.compile(SLUG_PATTERN[:-1] + r"\.toml$")


def load_catalogs(
    directory: Path = PRODUCTS_DIR, *, files: Iterable[Path] | None = None
) -> Catalogs:
    """Load every `<product>.toml`; the file name must equal the product slug it declares."""
    paths = sorted(files if files is not None else directory.glob("*.toml"))
    by_product: dict[str, Catalog] = {}
    for path in paths:
        if not _FILE_NAME.match(path.name):
            raise CatalogError(f"{path}: a catalog file is named <product-slug>.toml")
        catalog = parse_catalog(path.read_bytes(), source=str(path))
        if catalog.product != path.stem:
            raise CatalogError(
                f"{path}: declares product {catalog.product!r}, file name says {path.stem!r}"
            )
        by_product[catalog.product] = catalog
    if not by_product:
        raise CatalogError(f"{directory}: no product catalogs found")
    return Catalogs(by_product)
