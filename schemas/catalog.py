"""Product catalogs (`schemas/products/<product>.toml`): the allowlist of what a product may send."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec

from schemas.ping import KEY_PATTERN, MAX_COUNT, SLUG_PATTERN

PRODUCTS_DIR: Final = Path(__file__).with_name("products")

Purpose = Annotated[str, msgspec.Meta(min_length=8, max_length=300)]


class AttrSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One declared attr: a bool, a free string (≤ 64) or an enum of allowed strings."""

    type: Literal["bool", "string", "enum"]
    purpose: Purpose
    example: str | bool
    values: list[str] = []
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
    events: dict[Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN)], EventSpec]
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


def _check_consistency(catalog: Catalog) -> list[str]:
    problems: list[str] = []
    for name, attr in catalog.attrs.items():
        where = f"$.attrs.{name}"
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
        if attr.type == "bool" and not isinstance(attr.example, bool):
            problems.append(f"{where}.example: a bool attr needs a true/false example")
        if attr.type != "bool" and isinstance(attr.example, bool):
            problems.append(f"{where}.example: a {attr.type} attr needs a string example")
        if isinstance(attr.example, str) and len(attr.example) > 64:
            problems.append(f"{where}.example: longer than 64 characters")
    for name, count in catalog.counts.items():
        if not 0 <= count.example <= count.max:
            problems.append(f"$.counts.{name}.example: outside 0..{count.max}")
    overlap = set(catalog.attrs) & set(catalog.counts)
    if overlap:
        problems.append(f"keys declared both as attrs and counts: {sorted(overlap)}")
    if not catalog.events:
        problems.append("$.events: a product declares at least one event")
    return problems


def parse_catalog(text: bytes | str, *, source: str) -> Catalog:
    """Decode and check one catalog; raises CatalogError naming `source` and the field."""
    try:
        catalog = msgspec.toml.decode(text, type=Catalog)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CatalogError(f"{source}: {exc}") from None
    problems = _check_consistency(catalog)
    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    return catalog


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
