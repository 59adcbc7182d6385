"""The public routes against DESIGN §3's status table, with the fake publisher."""

from __future__ import annotations

import asyncio
import gzip
import time
import uuid
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from schemas.record import SCHEMA_VERSION
from tests.support.ingest import (
    FakeClock,
    FakePublisher,
    encode,
    gzipped,
    ingest_client,
    ingest_settings,
    pulse_ping,
)

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


async def test_202_publishes_the_exact_record_with_received_at() -> None:
    publisher, clock = FakePublisher(), FakeClock(1_790_000_000.5)
    ping = pulse_ping()
    async with ingest_client(publisher=publisher, clock=clock) as client:
        response = await client.post("/v1/ping", data=encode(ping), headers=JSON)
        assert response.status == 202
        assert await response.json() == {"accepted": 1, "dropped_fields": [], "reasons": {}}
    (record,) = publisher.records
    assert record.schema == SCHEMA_VERSION
    assert record.received_at.timestamp() == clock.now
    assert str(record.install_id) == ping["install_id"]
    assert str(record.ping_id) == ping["ping_id"]
    assert record.attrs == ping["attrs"] and record.counts == ping["counts"]
    assert (record.product, record.event, record.version) == ("pulse", "heartbeat", "5.1.14")


async def test_undeclared_fields_and_request_metadata_never_reach_the_record() -> None:
    publisher = FakePublisher()
    ping = pulse_ping(hostname="db-01.example.org", client_ip="203.0.113.9")
    ping["attrs"] = {**ping["attrs"], "hostname": "db-01.example.org"}
    ping["counts"] = {**ping["counts"], "users": 7}
    headers = {**JSON, "X-Forwarded-For": "203.0.113.9", "User-Agent": "pulse/5.1 (db-01)"}
    registry = CollectorRegistry()
    async with ingest_client(publisher=publisher, registry=registry) as client:
        response = await client.post("/v1/ping", data=encode(ping), headers=headers)
        assert response.status == 202
        body = await response.json()
    assert body == {
        "accepted": 1,
        "dropped_fields": ["attrs.hostname", "counts.users"],
        "reasons": {
            "attrs.hostname": "not declared by the pulse catalog",
            "counts.users": "not declared by the pulse catalog",
        },
    }
    (record,) = publisher.records
    wire = msgspec.msgpack.encode(record)
    for secret in (b"db-01", b"203.0.113.9", b"pulse/5.1", b"hostname", b"users"):
        assert secret not in wire
    assert registry.get_sample_value("census_ingest_dropped_fields_total") == 2
    labels = {"product": "pulse", "reason": "undeclared"}
    assert registry.get_sample_value("census_ingest_fields_dropped_total", labels) == 2


async def test_400_not_json_names_the_position() -> None:
    async with ingest_client() as client:
        response = await client.post("/v1/ping", data=b'{"product": "pulse",, }', headers=JSON)
        assert response.status == 400
        body = await response.json()
    assert body == {
        "error": "invalid_json",
        "path": "$",
        "reason": "not JSON: unexpected ',' at byte 20 (line 1, column 21)",
    }


async def test_400_truncated_array_is_not_json_not_a_type_error() -> None:
    async with ingest_client() as client:
        response = await client.post("/v1/batch", data=b"[1,2", headers=JSON)
        assert response.status == 400
        body = await response.json()
    assert body["reason"] == "the body ends before its JSON value does at byte 4 (line 1, column 5)"


async def test_400_not_utf8() -> None:
    body = encode(pulse_ping(version="5.1")).replace(b'"5.1"', b'"5.\xff"')
    async with ingest_client() as client:
        response = await client.post("/v1/ping", data=body, headers=JSON)
        assert response.status == 400
        reply = await response.json()
    offset = body.index(b"\xff")
    assert reply["reason"].startswith(f"the body is not UTF-8: byte 0xff at byte {offset} (line 1,")


async def test_a_negative_count_costs_that_count_and_the_ping_is_counted() -> None:
    publisher = FakePublisher()
    ping = pulse_ping()
    ping["counts"]["vms"] = -3
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/ping", data=encode(ping), headers=JSON)
        assert response.status == 202
        body = await response.json()
    assert body["dropped_fields"] == ["counts.vms"]
    assert body["reasons"] == {"counts.vms": "expected a whole number from 0 to 10000000"}
    (record,) = publisher.records
    assert "vms" not in record.counts


async def test_422_missing_install_id_and_a_wrong_optional_type_costs_the_field() -> None:
    missing = pulse_ping()
    del missing["install_id"]
    publisher = FakePublisher()
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/ping", data=encode(missing), headers=JSON)
        assert response.status == 422
        assert await response.json() == {
            "error": "invalid_ping",
            "path": "$.install_id",
            "reason": "missing: a ping is counted by its install id (a UUID)",
        }
        response = await client.post("/v1/ping", data=encode(pulse_ping(os=7)), headers=JSON)
        assert response.status == 202
        assert (await response.json())["dropped_fields"] == ["os"]
    (record,) = publisher.records
    assert record.os == "unknown"


async def test_422_unknown_product_and_event_name_the_allowed_ones() -> None:
    async with ingest_client() as client:
        response = await client.post(
            "/v1/ping", data=encode(pulse_ping(product="nope")), headers=JSON
        )
        assert response.status == 422
        body = await response.json()
        assert body["error"] == "unknown_product" and body["path"] == "$.product"
        assert "pulse" in body["reason"] and "novu" in body["reason"]
        response = await client.post(
            "/v1/ping", data=encode(pulse_ping(event="crash")), headers=JSON
        )
        body = await response.json()
    assert response.status == 202
    assert body["dropped_fields"] == ["event"]
    assert (
        "counted as 'other'" in body["reasons"]["event"] and "heartbeat" in body["reasons"]["event"]
    )


async def test_an_enum_value_outside_the_catalog_is_counted_as_other() -> None:
    publisher = FakePublisher()
    ping = pulse_ping()
    ping["attrs"]["version_channel"] = "nightly"
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/ping", data=encode(ping), headers=JSON)
        body = await response.json()
    assert response.status == 202
    assert body["dropped_fields"] == ["attrs.version_channel"]
    (record,) = publisher.records
    assert record.attrs["version_channel"] == "other"


async def test_413_body_larger_than_the_limit() -> None:
    settings = ingest_settings(max_body_bytes=2048)
    publisher = FakePublisher()
    async with ingest_client(settings, publisher=publisher) as client:
        response = await client.post("/v1/ping", data=b" " * 4096, headers=JSON)
        body = await response.json()
    assert response.status == 413 and "2048" in body["reason"]
    assert publisher.records == []


async def test_413_chunked_body_without_length() -> None:
    settings = ingest_settings(max_body_bytes=2048)

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1024

    async with ingest_client(settings) as client:
        response = await client.post("/v1/ping", data=chunks(), headers=JSON)
        assert response.status == 413


async def test_413_gzip_bomb_while_streaming() -> None:
    settings = ingest_settings(max_decompressed_bytes=64 * 1024)
    bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < settings.max_body_bytes
    async with ingest_client(settings) as client:
        response = await client.post(
            "/v1/batch", data=bomb, headers={**JSON, "Content-Encoding": "gzip"}
        )
        body = await response.json()
    assert response.status == 413 and "decompressed" in body["reason"]


async def test_gzip_body_is_accepted() -> None:
    publisher = FakePublisher()
    async with ingest_client(publisher=publisher) as client:
        response = await client.post(
            "/v1/batch",
            data=gzipped([pulse_ping(), pulse_ping()]),
            headers={**JSON, "Content-Encoding": "gzip"},
        )
        assert response.status == 202
    assert len(publisher.records) == 2


async def test_400_broken_gzip() -> None:
    async with ingest_client() as client:
        response = await client.post(
            "/v1/ping",
            data=gzipped(pulse_ping())[:-12],
            headers={**JSON, "Content-Encoding": "gzip"},
        )
        assert response.status == 400


async def test_415_wrong_content_type_or_encoding() -> None:
    async with ingest_client() as client:
        data = encode(pulse_ping())
        for headers in (
            {"Content-Type": "text/plain"},
            {},
            {"Content-Type": "application/json; charset=latin-1"},
            {**JSON, "Content-Encoding": "br"},
            NDJSON,  # NDJSON is for /v1/batch only
        ):
            response = await client.post("/v1/ping", data=data, headers=headers)
            assert response.status == 415, headers
            assert (await response.json())["error"] == "unsupported_media_type"
        response = await client.post(
            "/v1/ping", data=data, headers={"Content-Type": "application/json; charset=UTF-8"}
        )
        assert response.status == 202


async def test_429_with_retry_after_and_an_injected_clock() -> None:
    settings = ingest_settings(rate_per_s=1.0, rate_burst=2.0)
    clock = FakeClock()
    registry = CollectorRegistry()
    async with ingest_client(settings, clock=clock, registry=registry) as client:
        data = encode(pulse_ping())
        statuses = [
            (await client.post("/v1/ping", data=data, headers=JSON)).status for _ in range(3)
        ]
        assert statuses == [202, 202, 429]
        response = await client.post("/v1/ping", data=data, headers=JSON)
        assert response.status == 429 and response.headers["Retry-After"] == "1"
        clock.advance(1.0)
        assert (await client.post("/v1/ping", data=data, headers=JSON)).status == 202
    assert registry.get_sample_value("census_ingest_rate_limited_total") == 2


async def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    settings = ingest_settings(rate_per_s=1.0, rate_burst=1.0)
    async with ingest_client(settings) as client:
        data = encode(pulse_ping())
        first = await client.post(
            "/v1/ping", data=data, headers={**JSON, "X-Forwarded-For": "192.0.2.1"}
        )
        second = await client.post(
            "/v1/ping", data=data, headers={**JSON, "X-Forwarded-For": "192.0.2.2"}
        )
    assert (first.status, second.status) == (202, 429)


async def test_forwarded_for_separates_clients_behind_a_trusted_proxy() -> None:
    import ipaddress

    settings = ingest_settings(
        rate_per_s=1.0, rate_burst=1.0, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    async with ingest_client(settings) as client:
        data = encode(pulse_ping())

        async def post(forwarded: str) -> int:
            headers = {**JSON, "X-Forwarded-For": forwarded}
            return (await client.post("/v1/ping", data=data, headers=headers)).status

        # The right-most untrusted hop is the client; what it wrote to the left is ignored.
        assert await post("192.0.2.1") == 202
        assert await post("192.0.2.2") == 202
        assert await post("198.51.100.7, 192.0.2.1") == 429
        assert await post("192.0.2.1, 127.0.0.5") == 429


async def test_503_when_kafka_is_down_with_retry_after() -> None:
    publisher = FakePublisher()
    publisher.down = True
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/ping", data=encode(pulse_ping()), headers=JSON)
        body = await response.json()
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert "nothing was acknowledged" in body["reason"]


async def test_503_within_the_deadline_when_the_broker_never_answers() -> None:
    publisher = FakePublisher()
    publisher.hang = True
    settings = ingest_settings(publish_timeout_s=0.3, retry_after_s=2)
    async with ingest_client(settings, publisher=publisher) as client:
        started = time.monotonic()
        response = await client.post("/v1/ping", data=encode(pulse_ping()), headers=JSON)
        elapsed = time.monotonic() - started
    assert response.status == 503 and response.headers["Retry-After"] == "2"
    assert 0.3 <= elapsed < 2.0


async def test_batch_json_array_and_ndjson() -> None:
    publisher = FakePublisher()
    pings = [pulse_ping() for _ in range(5)]
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/batch", data=encode(pings), headers=JSON)
        assert (response.status, await response.json()) == (
            202,
            {"accepted": 5, "dropped_fields": [], "reasons": {}},
        )
        ndjson = b"\n".join(encode(p) for p in pings) + b"\n\n"
        response = await client.post("/v1/batch", data=ndjson, headers=NDJSON)
        assert (await response.json())["accepted"] == 5
    assert [str(r.install_id) for r in publisher.records] == [p["install_id"] for p in pings] * 2


async def test_batch_is_all_or_nothing_and_names_the_index() -> None:
    publisher = FakePublisher()
    pings = [pulse_ping() for _ in range(5)]
    pings[3]["install_id"] = "db01.example.com"
    del pings[1]["event"]
    async with ingest_client(publisher=publisher) as client:
        response = await client.post("/v1/batch", data=encode(pings), headers=JSON)
        assert (response.status, (await response.json())["path"]) == (422, "$[1].event")
        ndjson = b"\n".join(encode(p) for p in pings)
        response = await client.post("/v1/batch", data=ndjson, headers=NDJSON)
        body = await response.json()
        assert (response.status, body["path"]) == (422, "$[1].event")
        assert body["reason"] == "line 2: missing: every ping names its event"
        pings[1] = pulse_ping()
        response = await client.post("/v1/batch", data=encode(pings), headers=JSON)
        assert (response.status, (await response.json())["path"]) == (422, "$[3].install_id")
        broken = encode(pulse_ping()) + b'\n{"b": '
        response = await client.post("/v1/batch", data=broken, headers=NDJSON)
        assert response.status == 400
        assert (await response.json())["path"] == "$[1]"
    assert publisher.records == []


async def test_batch_count_limit_and_empty_batch() -> None:
    settings = ingest_settings(max_batch=3)
    async with ingest_client(settings) as client:
        four = [pulse_ping() for _ in range(4)]
        response = await client.post("/v1/batch", data=encode(four), headers=JSON)
        assert response.status == 413 and "3" in (await response.json())["reason"]
        ndjson = b"\n".join(encode(p) for p in four)
        assert (await client.post("/v1/batch", data=ndjson, headers=NDJSON)).status == 413
        assert (await client.post("/v1/batch", data=b"[]", headers=JSON)).status == 422
        three = encode(four[:3])
        assert (await client.post("/v1/batch", data=three, headers=JSON)).status == 202


async def test_batch_lists_dropped_fields_once() -> None:
    pings = [pulse_ping() for _ in range(3)]
    for ping in pings:
        ping["attrs"]["hostname"] = "x"
    async with ingest_client() as client:
        response = await client.post("/v1/batch", data=encode(pings), headers=JSON)
        assert await response.json() == {
            "accepted": 3,
            "dropped_fields": ["attrs.hostname"],
            "reasons": {"attrs.hostname": "not declared by the pulse catalog"},
        }


async def test_408_when_the_body_trickles_in() -> None:
    settings = ingest_settings(body_timeout_s=0.3)

    async def trickle() -> Any:
        for byte in encode(pulse_ping()):
            yield bytes([byte])
            await asyncio.sleep(0.05)

    async with ingest_client(settings) as client:
        started = time.monotonic()
        response = await client.post("/v1/ping", data=trickle(), headers=JSON)
        assert response.status == 408
        assert time.monotonic() - started < 2.0


async def test_slow_headers_are_disconnected() -> None:
    settings = ingest_settings(header_timeout_s=0.3)
    async with ingest_client(settings) as client:
        assert client.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"POST /v1/ping HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        # the header block never ends: the server must hang up on its own
        data = await asyncio.wait_for(reader.read(), timeout=5.0)
        writer.close()
    assert data == b""


async def test_never_a_5xx_for_bad_input() -> None:
    bodies = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"[null]",
        b'"x"',
        b"1e999",
        b"{" * 5000,
        b"\x00\xff",
        b"[[[]]]",
    ]
    bodies.append(encode(pulse_ping(install_id="not-a-uuid", attrs={"a": {"b": 1}})))
    bodies.append(encode(pulse_ping(install_id=None, counts={"vms": 10**30}, attrs=[1])))
    async with ingest_client() as client:
        for route in ("/v1/ping", "/v1/batch"):
            for body in bodies:
                for headers in (JSON, NDJSON):
                    response = await client.post(route, data=body, headers=headers)
                    assert 400 <= response.status < 500, (route, body[:40], response.status)
                    assert {"error", "path", "reason"} <= set(await response.json())


async def test_metrics_count_requests_accepted_and_rejected() -> None:
    registry = CollectorRegistry()
    async with ingest_client(registry=registry) as client:
        await client.post("/v1/batch", data=encode([pulse_ping(), pulse_ping()]), headers=JSON)
        await client.post("/v1/ping", data=b"{", headers=JSON)
    sample = registry.get_sample_value
    assert sample("census_ingest_requests_total", {"route": "/v1/batch", "status": "202"}) == 1
    assert sample("census_ingest_requests_total", {"route": "/v1/ping", "status": "400"}) == 1
    assert sample("census_ingest_pings_accepted_total") == 2
    assert sample("census_ingest_pings_rejected_total", {"reason": "invalid_json"}) == 1
    assert sample("census_ingest_produce_latency_seconds_count") == 1
    assert sample("census_ingest_inflight_pings") == 0


async def test_openapi_is_generated_from_the_structs() -> None:
    async with ingest_client() as client:
        response = await client.get("/openapi.json")
        assert response.status == 200
        spec = msgspec.json.decode(await response.read())
    assert spec["openapi"].startswith("3.")
    assert {"/v1/ping", "/v1/batch"} <= set(spec["paths"])  # plus /compat/* (test_compat_http)
    responses = spec["paths"]["/v1/ping"]["post"]["responses"]
    assert {"202", "400", "413", "415", "422", "429", "503"} <= set(responses)
    schemas = spec["components"]["schemas"]
    assert {"Ping", "Accepted", "Error"} <= set(schemas)
    assert set(schemas["Ping"]["required"]) >= {"product", "install_id", "event"}
    assert "application/x-ndjson" in spec["paths"]["/v1/batch"]["post"]["requestBody"]["content"]


def test_install_ids_in_samples_are_unique() -> None:
    assert len({pulse_ping()["install_id"] for _ in range(10)}) == 10
    assert uuid.UUID(pulse_ping()["install_id"]).version == 4


async def test_product_metric_counts_accepted_and_invalid_pings_per_product() -> None:
    registry = CollectorRegistry()
    async with ingest_client(registry=registry) as client:
        assert (
            await client.post("/v1/ping", data=encode(pulse_ping()), headers=JSON)
        ).status == 202
        bad_id = pulse_ping(install_id="nope")
        assert (await client.post("/v1/ping", data=encode(bad_id), headers=JSON)).status == 422
        batch = [pulse_ping(), pulse_ping(event=None)]
        assert (await client.post("/v1/batch", data=encode(batch), headers=JSON)).status == 422
        unknown = pulse_ping(product="not-catalogued")
        assert (await client.post("/v1/ping", data=encode(unknown), headers=JSON)).status == 422

    def product_pings(outcome: str, product: str = "pulse") -> float | None:
        return registry.get_sample_value(
            "census_ingest_product_pings_total", {"product": product, "outcome": outcome}
        )

    assert product_pings("accepted") == 1
    assert product_pings("invalid") == 2
    assert product_pings("accepted", "novu") == 0
    assert product_pings("invalid", "not-catalogued") is None


async def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    deep = b'{"product": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    async with ingest_client() as client:
        for path, body in (("/v1/ping", deep), ("/v1/batch", b"[" + deep + b"]")):
            response = await client.post(path, data=body, headers=JSON)
            assert response.status == 400
            assert (await response.json())["reason"] == (
                "the JSON nests arrays and objects deeper than Census reads"
            )
        for route in ("/compat/pulse/v1/telemetry/ping", "/compat/novu/beacon"):
            response = await client.post(route, data=deep, headers=JSON)
            assert response.status == 400
