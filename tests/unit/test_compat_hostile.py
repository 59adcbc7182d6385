"""Hostile bodies on the /compat/* routes through the real app: every parse path is linear and
bounded, a number too long for Python's int is a 4xx, and a repeated key is refused as on
/v1/ping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from services.ingest.compat import bashjson
from services.ingest.compat.common import unknown_fields
from services.ingest.compat.flowfuse import FlowFusePing
from services.ingest.compat.novu import NovuUsage
from tests.support import compat as bodies
from tests.support import hostile
from tests.support.ingest import (
    FakePublisher,
    encode,
    ingest_client,
    ingest_settings,
    pulse_ping,
)

JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}
SETTINGS = ingest_settings(id_secret="unit-test-secret", rate_per_s=0)
BOUND_S = 10.0
"""Generous, and far below the 45 s that one such request used to block the loop for."""


def test_unknown_fields_are_found_in_linear_time() -> None:
    def seconds(n: int) -> float:
        raw = hostile.NESTED_UNKNOWN[hostile.FLOWFUSE](n)
        started = time.perf_counter()
        found = unknown_fields(raw, FlowFusePing)
        elapsed = time.perf_counter() - started
        assert len(found) == n
        return elapsed

    # 0.06 s here; the quadratic search took 3.4 s for 10,000 keys and minutes for 100,000.
    assert min(seconds(hostile.NESTED_KEYS) for _ in range(3)) < 3.0


def test_each_unknown_path_is_listed_once_in_the_order_met() -> None:
    raw = {"instanceId": "x", "a": 1, "platform": {"b": 2, "counts": {"c": 3}}, "d": 4}
    raw["platform"]["counts"]["c2"] = 0  # type: ignore[index]
    assert unknown_fields(raw, FlowFusePing) == [
        "a",
        "platform.b",
        "platform.counts.c",
        "platform.counts.c2",
        "d",
    ]
    usage = bodies.novu_usage_body(integrationCount=[{"x": 1}, {"x": 2}, {"y": 3}])
    assert unknown_fields(usage, NovuUsage) == ["integrationCount.x", "integrationCount.y"]


@pytest.mark.parametrize("route", list(hostile.NESTED_UNKNOWN))
async def test_100000_nested_unknown_keys_are_answered_quickly_and_block_nobody(
    route: str,
) -> None:
    body = hostile.nested_unknown_gzip(route)
    assert len(body) < 250_000  # what the issue measured: ~225 kB on the wire
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        loop = asyncio.get_running_loop()

        async def normal() -> float:
            started = loop.time()
            response = await client.post(
                route, data=encode(hostile.NESTED_UNKNOWN[route](0)), headers=JSON
            )
            assert response.status == 202, await response.text()
            return loop.time() - started

        baseline = min([await normal() for _ in range(5)])
        started = loop.time()
        attack = asyncio.create_task(client.post(route, data=body, headers=GZIP))
        others: list[float] = []
        while not attack.done():
            others.append(await normal())
        response = await attack
        elapsed = loop.time() - started
        reply: dict[str, Any] = await response.json()
        assert response.status == 202, reply
        assert len(reply["dropped_fields"]) >= hostile.NESTED_KEYS  # each listed, once
        assert elapsed < BOUND_S, elapsed
        # Served meanwhile: no normal request waited anywhere near as long as the attack took to
        # freeze the loop before (the bound is a multiple of a normal request and of the attack).
        assert others and max(others) < BOUND_S, (baseline, others)


@pytest.mark.parametrize("shape", list(hostile.LONG_NUMBERS))
async def test_a_proxmox_number_past_4300_digits_is_never_a_500_nor_kept(shape: str) -> None:
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        response = await client.post(
            hostile.PROXMOX, data=hostile.proxmox_with(*hostile.LONG_NUMBERS[shape]), headers=JSON
        )
        raw = await response.read()
    reply = msgspec.json.decode(raw)
    assert len(raw) < 2000, reply  # never the digits echoed back
    if response.status == 202:  # the tolerant reader: the number costs its field alone
        (record,) = publisher.records
        assert all(len(str(v)) <= 13 for v in record.counts.values()), record.counts
        assert reply["dropped_fields"], reply
    else:
        assert 400 <= response.status < 500, (response.status, reply)
        assert publisher.records == []


@pytest.mark.parametrize("route", list(bodies.ROUTE_BODIES))
async def test_a_number_past_4300_digits_is_never_a_500_on_any_compat_route(route: str) -> None:
    text = encode(bodies.ROUTE_BODIES[route]())
    body = text[:-1] + b', "huge": ' + hostile.LONG_DIGITS.encode() + b"}"
    async with ingest_client(SETTINGS) as client:
        response = await client.post(route, data=body, headers=JSON)
        raw = await response.read()
    assert response.status == 202 or 400 <= response.status < 500, raw
    assert hostile.LONG_DIGITS[:50].encode() not in raw


async def test_a_long_run_of_leading_zeros_is_just_the_number() -> None:
    replace, by = hostile.LEADING_ZEROS
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        response = await client.post(
            hostile.PROXMOX, data=hostile.proxmox_with(replace, by), headers=JSON
        )
        assert response.status == 202, await response.text()
    assert publisher.records[0].counts["disk_size"] == 8


def test_numbers_are_read_only_up_to_the_digits_a_count_can_have() -> None:
    assert bashjson.number_with_unit("disk_size", "0" * 5000 + "32G") == 32
    assert bashjson.number_with_unit("disk_size", "1" * 13) == 1_111_111_111_111
    with pytest.raises(bashjson.TooManyDigits):
        bashjson.number_with_unit("disk_size", "1" * 14)
    with pytest.raises(bashjson.TooManyDigits):
        bashjson.unquoted_units(b'{"disk_size": ' + hostile.LONG_DIGITS.encode() + b"G}")


@pytest.mark.parametrize("field", sorted(bashjson.UNITS))
@pytest.mark.parametrize("digits", ["0", "0042", "2666", "0" * 5000 + "32", "1" * 13, "1" * 14])
def test_bare_digits_read_as_the_same_digits_with_space_around(field: str, digits: str) -> None:
    """Bare digits (most of what bash writes) skip the unit pattern: the same answer as the
    pattern gives the same digits with no unit."""

    def read(text: str) -> int | str:
        try:
            return bashjson.number_with_unit(field, text) or 0
        except bashjson.TooManyDigits:
            return "too many digits"

    assert read(digits) == read(f" {digits} ")
    significant = digits.lstrip("0") or "0"
    assert read(digits) == (int(significant) if len(significant) <= 13 else "too many digits")


def test_the_repair_is_bounded_in_size() -> None:
    small = b'{"nsapp": "a\tb"}'
    assert bashjson.repair(small) == b'{"nsapp": "a b"}'
    assert bashjson.repair(small + b" " * bashjson.REPAIR_MAX_BYTES) is None


async def test_a_large_broken_proxmox_body_is_refused_without_repair() -> None:
    text = hostile.proxmox_with(b'"nsapp": "jellyfin"', b'"nsapp": "jelly\x01fin"')
    large = text[:-1] + b" " * bashjson.REPAIR_MAX_BYTES + b"}"
    async with ingest_client(SETTINGS) as client:
        repaired = await client.post(hostile.PROXMOX, data=text, headers=JSON)
        assert repaired.status == 202, await repaired.text()
        started = time.perf_counter()
        refused = await client.post(hostile.PROXMOX, data=large, headers=JSON)
        reply = await refused.json()
    assert (refused.status, reply["error"]) == (400, "invalid_json"), reply
    assert f"at most {bashjson.REPAIR_MAX_BYTES} bytes" in reply["reason"]
    assert time.perf_counter() - started < BOUND_S


@pytest.mark.parametrize("route", list(bodies.ROUTE_BODIES))
async def test_a_repeated_key_is_refused_on_every_compat_route_as_on_v1_ping(route: str) -> None:
    body = hostile.duplicated(route)
    assert msgspec.json.decode(body).keys() == bodies.ROUTE_BODIES[route]().keys()
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        response = await client.post(route, data=body, headers=JSON)
        reply = await response.json()
        canonical = await client.post(
            "/v1/ping",
            data=b'{"product": "novu", ' + encode(pulse_ping())[1:],
            headers=JSON,
        )
        canonical_reply = await canonical.json()
    assert (response.status, reply["error"]) == (400, "invalid_json"), reply
    assert "appears twice in one object" in reply["reason"]
    # The same rule, word for word, as on /v1/ping.
    assert canonical.status == 400
    assert canonical_reply["reason"] == "the key 'product' appears twice in one object"
    assert publisher.records == []


async def test_a_repeated_nested_key_is_refused() -> None:
    text = encode(bodies.flowfuse_body())
    assert b'"os":{' in text
    body = text.replace(b'"os":{', b'"os":{"type":"Windows",', 1)
    async with ingest_client(SETTINGS) as client:
        response = await client.post(hostile.FLOWFUSE, data=body, headers=JSON)
        reply = await response.json()
    assert (response.status, reply["reason"]) == (
        400,
        "the key 'type' appears twice in one object",
    ), reply


async def test_a_repeated_key_in_a_repaired_proxmox_body_is_refused() -> None:
    text = hostile.proxmox_with(b'"disk_size": 8', b'"disk_size": 8G, "disk_size": 9')
    async with ingest_client(SETTINGS) as client:
        response = await client.post(hostile.PROXMOX, data=text, headers=JSON)
        reply = await response.json()
    assert (response.status, reply["reason"]) == (
        400,
        "the key 'disk_size' appears twice in one object",
    ), reply


@pytest.mark.parametrize(
    ("route", "field"),
    [
        ("/compat/pulse/v1/telemetry/ping", "install_id"),
        ("/compat/flowfuse/ping", "instanceId"),
        (hostile.PROXMOX, "random_id"),
        ("/compat/maestrohub/report", "instance_id"),
    ],
)
async def test_an_empty_install_id_is_a_422(route: str, field: str) -> None:
    publisher = FakePublisher()
    async with ingest_client(SETTINGS, publisher=publisher) as client:
        body = bodies.ROUTE_BODIES[route](**{field: ""})
        response = await client.post(route, data=encode(body), headers=JSON)
        reply = await response.json()
    assert (response.status, reply["path"]) == (422, f"$.{field}"), reply
    assert publisher.records == []
