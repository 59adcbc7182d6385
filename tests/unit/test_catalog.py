"""Catalog loading and the catalog rules applied to pings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas.catalog import (
    DEFAULT_ARCHES,
    DEFAULT_OSES,
    DEFAULT_VERSION_PATTERN,
    CatalogError,
    Catalogs,
    load_catalogs,
    matches,
    parse_catalog,
)
from schemas.reader import read_ping

EXAMPLE = """
product = "demo"
name = "Demo"
description = "A product used by the unit tests."
docs = "tests/unit/test_catalog.py"
platforms = ["docker", "lxc"]

[events.startup]
purpose = "Sent once when the service starts."

[attrs.mode]
type = "enum"
values = ["docker", "lxc"]
example = "docker"
purpose = "How the product was deployed."
dimension = true

[attrs.sso]
type = "bool"
example = false
purpose = "Whether single sign-on is on."

[attrs.locale]
type = "string"
pattern = '^[a-z]{2}$'
example = "en"
purpose = "The UI language the operator picked."

[counts.vms]
example = 4
max = 1000
purpose = "Virtual machines under management."
"""


def catalogs() -> Catalogs:
    return Catalogs({"demo": parse_catalog(EXAMPLE, source="demo.toml")})


def ping(**changes: Any) -> bytes:
    body: dict[str, Any] = {
        "product": "demo",
        "install_id": str(uuid.UUID(int=1)),
        "event": "startup",
        "version": "1.0",
        "platform": "docker",
        "os": "linux",
        "arch": "amd64",
        "attrs": {"mode": "lxc", "sso": True, "locale": "de"},
        "counts": {"vms": 1000},
    }
    body.update(changes)
    return json.dumps(body).encode()


def test_the_five_seed_catalogs_load() -> None:
    loaded = load_catalogs()
    assert set(loaded.products) >= {"pulse", "proxmox-scripts", "flowfuse", "novu", "maestrohub"}
    for product in loaded.products:
        catalog = loaded.get(product)
        assert catalog is not None and catalog.events, product


def test_example_catalog_declares_dimensions() -> None:
    catalog = catalogs().get("demo")
    assert catalog is not None
    assert catalog.dimensions == ("mode",)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('product = "demo"', 'product = "Demo!"'), "`$.product`"),
        (
            lambda t: t.replace('values = ["docker", "lxc"]', "values = []"),
            "at least one allowed value",
        ),
        (lambda t: t.replace('example = "docker"', 'example = "k8s"'), "is not one of its values"),
        (lambda t: t.replace("example = false", 'example = "no"'), "true/false example"),
        (lambda t: t.replace("example = 4", "example = 4000"), "outside 0..1000"),
        (
            lambda t: t.replace(
                'purpose = "Virtual machines under management."', 'purpose = "vms"'
            ),
            "length >= 8",
        ),
        (
            lambda t: (
                t
                + '\n[attrs.vms]\ntype = "bool"\nexample = true\npurpose = "Clashes with a count."\n'
            ),
            "both as attrs and counts",
        ),
        (lambda t: t.replace("[counts.vms]", "[counts.vms]\nunit = 'vm'"), "unknown field `unit`"),
        (lambda t: t.replace('type = "bool"', 'type = "boolean"'), "invalid enum value 'boolean'"),
        (lambda t: t + "\n[broken", "table declaration"),
        (
            lambda t: t.replace("pattern = '^[a-z]{2}$'\n", ""),
            "$.attrs.locale.pattern: a string attr needs a pattern",
        ),
        (
            lambda t: t.replace("pattern = '^[a-z]{2}$'", "pattern = '[a-z]{2}'"),
            "$.attrs.locale.pattern: a pattern is anchored",
        ),
        (
            lambda t: t.replace("pattern = '^[a-z]{2}$'", "pattern = '^[a-z{2$'"),
            "$.attrs.locale.pattern: does not compile",
        ),
        (
            lambda t: t.replace("pattern = '^[a-z]{2}$'", "pattern = '^[a-z]{3}$'"),
            "$.attrs.locale.example: 'en' does not match its pattern",
        ),
        (
            lambda t: t.replace("example = false", "example = false\npattern = '^x$'"),
            "$.attrs.sso.pattern: only a string attr has a pattern",
        ),
        (
            lambda t: t.replace(
                "[events.startup]", "[events.other]\npurpose = 'Anything else.'\n[events.startup]"
            ),
            "$.events.other: reserved",
        ),
        (
            lambda t: t.replace('platforms = ["docker", "lxc"]', "version_pattern = '[0-9]+'"),
            "object missing required field `platforms`",
        ),
        (
            lambda t: t.replace(
                'platforms = ["docker", "lxc"]', "platforms = []\nversion_pattern = '[0-9]+'"
            ),
            "$.version_pattern: a pattern is anchored",
        ),
        (
            lambda t: t.replace('platforms = ["docker", "lxc"]', 'platforms = ["Docker Desktop"]'),
            "$.platforms: ['Docker Desktop'] must each match",
        ),
        (
            lambda t: t.replace('platforms = ["docker", "lxc"]', 'platforms = ["lxc", "lxc"]'),
            "$.platforms: duplicate values",
        ),
        (
            lambda t: t.replace(
                'platforms = ["docker", "lxc"]', 'platforms = []\noses = ["linux/gnu"]'
            ),
            "$.oses: ['linux/gnu'] must each match",
        ),
        (
            lambda t: t.replace(
                'platforms = ["docker", "lxc"]',
                'platforms = []\narches = ["x86_64-with-a-long-name"]',
            ),
            "$.arches: ['x86_64-with-a-long-name'] must each match",
        ),
    ],
)
def test_bad_catalog_is_rejected_with_file_and_field(edit: Any, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(edit(EXAMPLE), source="demo.toml")
    assert str(info.value).startswith("demo.toml: ")
    assert message.lower() in str(info.value).lower()


def test_file_name_must_match_product(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text(EXAMPLE)
    with pytest.raises(CatalogError, match="declares product 'demo'"):
        load_catalogs(tmp_path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no product catalogs"):
        load_catalogs(tmp_path)


def test_declared_fields_pass_unchanged() -> None:
    read = read_ping(json.loads(ping()), catalogs())
    assert read.drops == ()
    assert read.ping.attrs == {"mode": "lxc", "sso": True, "locale": "de"}


def test_undeclared_keys_are_dropped_and_listed() -> None:
    body = ping(attrs={"mode": "docker", "hostname": "db01"}, counts={"vms": 2, "disks": 7})
    read = read_ping(json.loads(body), catalogs())
    assert [d.field for d in read.drops] == ["attrs.hostname", "counts.disks"]
    assert read.ping.attrs == {"mode": "docker"}
    assert read.ping.counts == {"vms": 2}


def test_a_value_outside_an_enum_costs_that_field_only() -> None:
    read = read_ping(json.loads(ping(attrs={"mode": "k8s", "sso": "yes"})), catalogs())
    assert read.ping.attrs == {"mode": "other"}
    assert [d.field for d in read.drops] == ["attrs.mode", "attrs.sso"]


def test_loader_adds_the_reserved_values() -> None:
    catalog = catalogs().get("demo")
    assert catalog is not None
    assert catalog.attrs["mode"].values == ["docker", "lxc", "other"]
    assert catalog.platforms == ["docker", "lxc", "other", "unknown"]
    assert catalog.oses == [*DEFAULT_OSES, "other", "unknown"]
    assert catalog.arches == [*DEFAULT_ARCHES, "other", "unknown"]
    assert catalog.version_pattern == DEFAULT_VERSION_PATTERN


def test_reserved_values_already_declared_are_not_repeated() -> None:
    text = EXAMPLE.replace('["docker", "lxc"]', '["docker", "other", "lxc"]')
    text = text.replace('platforms = ["docker", "other", "lxc"]', 'platforms = ["unknown", "lxc"]')
    catalog = parse_catalog(text, source="demo.toml")
    assert catalog.attrs["mode"].values == ["docker", "other", "lxc"]
    assert catalog.platforms == ["unknown", "lxc", "other"]


@pytest.mark.parametrize(
    "version", ["6.0.0", "6.0", "6", "2024.10.4", "6.0.0-rc.1", "1.2.3-beta", "6.0.0-rc1.2.3"]
)
def test_default_version_pattern_takes_release_versions(version: str) -> None:
    assert matches(DEFAULT_VERSION_PATTERN, version)


@pytest.mark.parametrize(
    "version",
    [
        "v6.0.0",  # the validator strips the v before matching
        "6.0.0+git.45.gabcdef",  # build metadata
        "6.0.0\n",
        "db01.example.com",
        "6.0.0-rc 1",
        "6.0.0-a@b",
        "6.0.0/x",
        "1.2.3.4.5",
        "1234567.0",
        "6.0.0-averylongpretag",
        "6.0.0-a.b.c.d",
        "",
    ],
)
def test_default_version_pattern_refuses_everything_else(version: str) -> None:
    assert not matches(DEFAULT_VERSION_PATTERN, version)


def test_matches_is_a_whole_match() -> None:
    # re.match("^en$", "en\n") matches: `$` also takes a trailing newline.
    assert matches("^en$", "en")
    assert not matches("^en$", "en\n")
    assert not matches("^en", "english")


# Seed string attrs whose real values need a character the rule otherwise forbids: CPU model
# names from /proc/cpuinfo ("Intel Core i5-8500T CPU @ 2.10GHz") and GPU names from lspci
# ("[AMD/ATI] Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]").
NEEDED: dict[tuple[str, str], str] = {
    ("proxmox-scripts", "cpu_model"): " @",
    ("proxmox-scripts", "gpu_model"): " /",
}


def test_seed_string_attrs_refuse_spaces_at_and_slash_unless_needed() -> None:
    loaded = load_catalogs()
    checked = 0
    for product in loaded.products:
        catalog = loaded.get(product)
        assert catalog is not None
        for name, spec in catalog.attrs.items():
            if spec.type != "string":
                continue
            assert isinstance(spec.example, str)
            assert matches(spec.pattern, spec.example), (product, name)
            for char in " @/":
                probe = spec.example[:1] + char + spec.example[1:]
                allowed = char in NEEDED.get((product, name), "")
                assert matches(spec.pattern, probe) is allowed, (product, name, probe)
            checked += 1
    assert checked >= 10


def test_every_seed_catalog_declares_its_platforms() -> None:
    loaded = load_catalogs()
    pulse = loaded.get("pulse")
    assert pulse is not None and pulse.platforms[:2] == ["docker", "binary"]
    for product in loaded.products:
        catalog = loaded.get(product)
        assert catalog is not None
        assert {"other", "unknown"} <= set(catalog.platforms) & set(catalog.oses), product
        assert {"other", "unknown"} <= set(catalog.arches), product
        assert "other" not in catalog.events, product
        for spec in catalog.attrs.values():
            assert spec.type != "enum" or "other" in spec.values


@pytest.mark.parametrize("probe", ["10.0.0.7", "192.168.100.200", "2024.10.4.1"])
def test_the_default_version_pattern_refuses_four_numbers_the_shape_of_an_address(
    probe: str,
) -> None:
    assert not matches(DEFAULT_VERSION_PATTERN, probe)


def test_a_catalog_whose_version_pattern_takes_an_address_is_refused() -> None:
    text = EXAMPLE.replace(
        'platforms = ["docker", "lxc"]',
        'platforms = ["docker", "lxc"]\nversion_pattern = \'^[0-9.]+$\'',
    )
    with pytest.raises(CatalogError, match="an address or host name"):
        parse_catalog(text, source="demo.toml")
