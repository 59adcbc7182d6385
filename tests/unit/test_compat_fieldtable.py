"""docs/fields.md is generated, and the compat mappings cover exactly what the Structs accept."""

from __future__ import annotations

import pytest

from schemas import fieldtable
from schemas.catalog import load_catalogs
from schemas.compat import MAPPINGS, CompatMapping, Fate
from services.ingest.compat.common import upstream_fields
from services.ingest.compat.registry import ROUTES, CompatRoute

CANONICAL = {"install_id", "event", "version", "platform", "os", "arch", "sent_at", "ping_id"}


def test_committed_field_table_is_what_the_generator_renders() -> None:
    expected = fieldtable.render(load_catalogs())
    assert fieldtable.OUTPUT.read_text() == expected, "run: python -m schemas.fieldtable"
    assert fieldtable.main(["--check"]) == 0


def test_the_table_names_every_route_and_every_dropped_field() -> None:
    text = fieldtable.OUTPUT.read_text()
    for mapping in MAPPINGS:
        assert f"`POST {mapping.route}`" in text
        for field in mapping.dropped:
            assert f"| `{field}` | dropped |" in text


def test_every_route_has_a_mapping_and_every_mapping_a_route() -> None:
    assert [route.mapping for route in ROUTES] == list(MAPPINGS)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_every_field_the_struct_accepts_has_a_fate(route: CompatRoute) -> None:
    accepted = upstream_fields(route.body)
    listed = [m.upstream for m in route.mapping.fields]
    assert [f for f in accepted if f not in listed] == []
    assert [f for f in listed if f not in accepted] == [], "rows for fields no Struct accepts"
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: m.route)
def test_targets_exist_in_the_catalog_or_the_envelope(mapping: CompatMapping) -> None:
    catalog = load_catalogs().get(mapping.product)
    assert catalog is not None
    for row in mapping.fields:
        if row.fate is Fate.DROPPED:
            assert row.targets == () and row.note
            continue
        assert row.targets, row.upstream
        for target in row.targets:
            kind, _, key = target.partition(".")
            if kind == "attrs":
                assert key in catalog.attrs, target
            elif kind == "counts":
                assert key in catalog.counts, target
            else:
                assert target in CANONICAL, target
