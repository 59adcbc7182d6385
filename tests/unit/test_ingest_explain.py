"""`census explain`: its verdict and its dropped fields are the ingest app's, field by field, for
every fixture; it never prints a dropped value."""

from __future__ import annotations

import io
import sys
from typing import Any

import msgspec
import pytest

from schemas.catalog import load_catalogs
from schemas.compat import MAPPINGS
from services.cli import main as census
from services.ingest import explain
from tests.support import compat as bodies
from tests.support.ingest import FakePublisher, ingest_client, ingest_settings

SECRET = "explain-test-secret"
FIXTURES = sorted((p.parent.name, p.name) for p in bodies.FIXTURES.glob("*/*.json"))
ROUTE_OF = {"novu": {"documented-beacon.json": "/compat/novu/beacon"}}


def bodies_note(product: str, field: str) -> str | None:
    for mapping in MAPPINGS:
        row = mapping.row(field) if mapping.product == product else None
        if row is not None:
            return row.note
    return None


def run(product: str, body: bytes, path: str | None = None) -> explain.Explanation:
    route = explain.route_for(product, path)
    return explain.explain(body, product, route, load_catalogs(), SECRET.encode())


async def ingest_answer(route: str, body: bytes) -> tuple[int, dict[str, Any], FakePublisher]:
    publisher = FakePublisher()
    async with ingest_client(ingest_settings(id_secret=SECRET), publisher=publisher) as client:
        response = await client.post(route, data=body, headers={"Content-Type": "application/json"})
        return response.status, await response.json(), publisher


@pytest.mark.parametrize(("product", "name"), FIXTURES)
async def test_explain_answers_what_ingest_does(product: str, name: str) -> None:
    body = bodies.fixture(product, name)
    result = run(product, body, ROUTE_OF.get(product, {}).get(name))
    status, reply, publisher = await ingest_answer(result.route, body)
    assert result.accepted is (status == 202)
    dropped = [row for row in result.rows if row.fate == "dropped"]
    assert [row.field for row in dropped] == reply.get("dropped_fields", [])
    for row in dropped:  # ingest's reason, or the mapping's note for a field dropped by design
        assert row.note in (reply["reasons"][row.field], bodies_note(product, row.field))
    (record,) = publisher.records
    published = {row.field: row.value for row in result.rows if row.fate != "dropped"}
    assert published["install_id"] == record.install_id
    assert {k[6:]: v for k, v in published.items() if k.startswith("attrs.")} == record.attrs
    assert {k[7:]: v for k, v in published.items() if k.startswith("counts.")} == record.counts


async def test_a_refusal_is_ingest_s_refusal() -> None:
    body = b'{"event": "Regular Beacon - [OS Telemetry]", "properties": {"freeMemory": 1}}'
    result = run("novu", body)
    status, reply, _ = await ingest_answer(result.route, body)
    assert not result.accepted and result.refusal is not None
    assert (
        (result.refusal.status, result.refusal.path)
        == (status, reply["path"])
        == (422, "$.properties.distinct_id")
    )
    assert "refused: 422 invalid_ping at $.properties.distinct_id" in explain.render(result)


def test_dropped_fields_are_named_with_their_reason_and_never_echoed() -> None:
    text = explain.render(run("novu", bodies.fixture("novu", "regular-beacon-fallback-id.json")))
    assert "properties.hostname   names the machine" in text
    assert "properties.ipAddress  a network address" in text
    for marker in (bodies.HOSTNAME, bodies.IP):
        assert marker not in text


def test_first_schema_booleans_are_derived_and_schema10_ones_kept() -> None:
    old = run("pulse", bodies.fixture("pulse", "first-schema-startup-pro.json"))
    new = run("pulse", bodies.fixture("pulse", "schema10-heartbeat-every-group.json"))
    (old_paid,) = [row for row in old.rows if row.field == "attrs.paid_license"]
    (new_paid,) = [row for row in new.rows if row.field == "attrs.paid_license"]
    assert (old_paid.fate, old_paid.source, old_paid.value) == ("derived", "license_tier", True)
    assert (new_paid.fate, new_paid.source) == ("kept", "paid_license")


async def test_an_undeclared_key_is_dropped_with_ingest_s_reason() -> None:
    body = bodies.fixture("pulse", "first-schema-startup-pro.json")[:-2] + b', "new_thing": 1}'
    result = run("pulse", body)
    (row,) = [row for row in result.rows if row.fate == "dropped"]
    _, reply, _ = await ingest_answer(result.route, body)
    assert (row.field, row.note) == ("new_thing", reply["reasons"]["new_thing"])


async def test_a_value_outside_its_list_is_shown_as_other_and_as_dropped() -> None:
    sent = msgspec.json.decode(bodies.fixture("pulse", "schema10-heartbeat-every-group.json"))
    sent["deployment_method"] = "nixos"
    body = msgspec.json.encode(sent)
    result = run("pulse", body)
    _, reply, _ = await ingest_answer(result.route, body)
    (kept,) = [r for r in result.rows if r.field == "attrs.deployment_method"]
    (dropped,) = [r for r in result.rows if r.fate == "dropped"]
    assert kept.value == "other"
    assert (dropped.field, dropped.note) == (
        "deployment_method",
        reply["reasons"]["deployment_method"],
    )
    assert "nixos" not in explain.render(result)


def test_canonical_route_uses_parse_ping() -> None:
    body = (
        b'{"product": "pulse", "install_id": "6f1e0f1c-8d3a-4f57-9a0e-1b2c3d4e5f60", '
        b'"event": "heartbeat", "version": "6.3.0", "platform": "docker", "os": "linux", '
        b'"arch": "amd64", "attrs": {"sso_enabled": true, "hostname_x": "h"}}'
    )
    result = run("pulse", body, "/v1/ping")
    assert result.accepted and result.route == "/v1/ping"
    assert [r.field for r in result.rows if r.fate == "dropped"] == ["attrs.hostname_x"]


def test_unknown_route_names_the_product_s_routes() -> None:
    with pytest.raises(ValueError, match="/compat/novu/telemetry"):
        explain.route_for("novu", "/compat/novu/nope")


def test_cli_exit_codes_and_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CENSUS_INGEST_ID_SECRET", SECRET)
    good = bodies.FIXTURES / "flowfuse" / "ce.json"
    assert census(["explain", "flowfuse", str(good)]) == 0
    assert "accepted: 202" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[1]")))
    assert census(["explain", "flowfuse", "-"]) == 1
    assert "refused: 422" in capsys.readouterr().out
    assert census(["explain", "nope", str(good)]) == 2
    assert "unknown product 'nope'" in capsys.readouterr().err
    assert census(["explain", "flowfuse", "/nonexistent/ping.json"]) == 2
    assert "cannot read /nonexistent/ping.json" in capsys.readouterr().err


async def test_a_body_only_the_adapter_s_repairs_make_json_is_explained() -> None:
    body = bodies.fixture("proxmox-scripts", "lxc-success.json").replace(
        b'"disk_size": 8', b'"disk_size": 8G'
    )
    result = run("proxmox-scripts", body)
    status, _, _ = await ingest_answer(result.route, body)
    assert result.accepted and status == 202
    (disk,) = [row for row in result.rows if row.field == "counts.disk_size"]
    assert (disk.value, disk.source) == (8, "disk_size")


def test_cli_without_a_secret_still_explains_with_a_throwaway_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CENSUS_INGEST_ID_SECRET", raising=False)
    fixture = bodies.FIXTURES / "novu" / "user-info.json"
    assert census(["explain", "novu", str(fixture)]) == 0
    out = capsys.readouterr()
    assert "accepted: 202" in out.out
    assert "throwaway key, not ingest's" in out.err
