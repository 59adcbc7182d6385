"""Catalog loading and the catalog rules applied to pings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas.catalog import CatalogError, Catalogs, load_catalogs, parse_catalog
from schemas.ping import decode_ping
from schemas.validation import CatalogViolation, check_ping

EXAMPLE = """
product = "demo"
name = "Demo"
description = "A product used by the unit tests."
docs = "tests/unit/test_catalog.py"

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
    checked = check_ping(decode_ping(ping()), catalogs())
    assert checked.dropped_fields == ()
    assert checked.ping.attrs == {"mode": "lxc", "sso": True, "locale": "de"}


def test_undeclared_keys_are_dropped_and_listed() -> None:
    body = ping(attrs={"mode": "docker", "hostname": "db01"}, counts={"vms": 2, "disks": 7})
    checked = check_ping(decode_ping(body), catalogs())
    assert checked.dropped_fields == ("attrs.hostname", "counts.disks")
    assert checked.ping.attrs == {"mode": "docker"}
    assert checked.ping.counts == {"vms": 2}


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"product": "nope"}, "$.product", "known: demo"),
        ({"event": "heartbeat"}, "$.event", "allowed: startup"),
        ({"attrs": {"mode": "k8s"}}, "$.attrs.mode", "allowed: docker, lxc"),
        ({"attrs": {"sso": "yes"}}, "$.attrs.sso", "expected a boolean"),
        ({"attrs": {"locale": True}}, "$.attrs.locale", "expected a string"),
        ({"counts": {"vms": 1001}}, "$.counts.vms", "<= 1000"),
    ],
)
def test_catalog_violations_name_path_and_rule(
    changes: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(CatalogViolation) as info:
        check_ping(decode_ping(ping(**changes)), catalogs())
    assert info.value.path == path
    assert reason in info.value.reason


def test_batch_item_path_prefix() -> None:
    with pytest.raises(CatalogViolation) as info:
        check_ping(decode_ping(ping(event="x")), catalogs(), path="$[3]")
    assert info.value.path == "$[3].event"
