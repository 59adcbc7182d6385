"""Requests refused before any route runs get Census's own error body, in every service's shape:
never aiohttp's parser message, never bytes of the request echoed back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from services.common.httpserver import MALFORMED, CensusAppRunner, refusal_reason
from services.common.ops import OpsServer
from services.dashboard.app import refusal_body as dashboard_refusal_body
from services.ingest.replies import Error
from tests.support.ingest import FakePublisher, ingest_client

MARKER = b"marker-7f3a.example.org"
MALFORMED_HEADS = {
    "bad method": b"GARBAGE / HTTP/1.1\r\nHost: " + MARKER + b"\r\n\r\n",
    "NUL in a header": b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nX-Note: " + MARKER + b"\x00\r\n\r\n",
    "header too long": b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nX-Long: "
    + MARKER * 300
    + b"\r\n\r\n",
    "bad Content-Length": b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: "
    + MARKER
    + b"\r\n\r\n",
    "too many headers": b"POST /v1/ping HTTP/1.1\r\n"
    + b"".join(b"X-%d: %s\r\n" % (i, MARKER) for i in range(200))
    + b"\r\n",
}
GENERIC = refusal_reason(400, None)[1]
EXPECTED_REASON = {
    "bad method": "not an HTTP/1.1 request: its request line has no valid method",
    "NUL in a header": GENERIC,
    "header too long": "a request line or header is longer than this server accepts",
    "bad Content-Length": GENERIC,
    "too many headers": GENERIC,
}
AIOHTTP_WORDING = (b"Invalid", b"encountered", b"Got more than", b"Bad status", b"message:")


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_census_words(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert MARKER not in body
    assert not any(word in body for word in AIOHTTP_WORDING), body
    decoded = msgspec.json.decode(body)
    assert isinstance(decoded, dict)
    assert decoded["error"] == MALFORMED
    return decoded


@pytest.mark.parametrize("case", sorted(MALFORMED_HEADS))
async def test_ingest_answers_a_malformed_request_in_its_error_shape(case: str) -> None:
    publisher = FakePublisher()
    async with ingest_client(publisher=publisher) as client:
        port = client.server.port
        assert port is not None
        status, headers, body = await raw_exchange(port, MALFORMED_HEADS[case])
    decoded = assert_census_words(status, headers, body)
    assert msgspec.json.decode(body, type=Error) == Error(MALFORMED, "$", EXPECTED_REASON[case])
    assert set(decoded) == {"error", "path", "reason"}
    assert publisher.records == []


async def test_a_well_formed_request_on_the_same_server_is_answered_by_the_route() -> None:
    async with ingest_client() as client:
        port = client.server.port
        assert port is not None
        status, _, body = await raw_exchange(
            port,
            b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
    assert status == 422 and b"invalid_ping" in body


async def test_ingest_counts_what_it_refused_before_routing() -> None:
    registry = CollectorRegistry()
    async with ingest_client(registry=registry) as client:
        port = client.server.port
        assert port is not None
        for case in ("bad method", "NUL in a header", "too many headers"):
            await raw_exchange(port, MALFORMED_HEADS[case])
    rejected = registry.get_sample_value(
        "census_ingest_pings_rejected_total", {"reason": MALFORMED}
    )
    assert rejected == 3


@asynccontextmanager
async def served(app: web.Application, **kwargs: object) -> AsyncIterator[int]:
    runner = CensusAppRunner(app, access_log=None, **kwargs)  # type: ignore[arg-type]
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def test_the_dashboard_answers_in_its_problem_shape() -> None:
    async with served(web.Application(), refusal_body=dashboard_refusal_body) as port:
        status, headers, body = await raw_exchange(port, MALFORMED_HEADS["NUL in a header"])
    decoded = assert_census_words(status, headers, body)
    assert set(decoded) == {"error", "parameter", "reason"} and decoded["parameter"] is None


async def test_the_ops_server_answers_in_census_words() -> None:
    ops = OpsServer(host="127.0.0.1", port=0, registry=CollectorRegistry(), readiness=lambda: None)
    async with ops:
        status, headers, body = await raw_exchange(ops.port, MALFORMED_HEADS["bad method"])
    assert_census_words(status, headers, body)


async def test_a_failure_outside_the_handlers_gets_census_words_not_aiohttps() -> None:
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug with " + MARKER.decode())

    app = web.Application()
    app.router.add_get("/", broken)
    async with served(app) as port:
        status, headers, body = await raw_exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert status == 500
    assert headers["content-type"].startswith("application/json")
    assert msgspec.json.decode(body) == {
        "error": "internal",
        "path": "$",
        "reason": refusal_reason(500, None)[1],
    }
    assert MARKER not in body and b"Server got itself in trouble" not in body
