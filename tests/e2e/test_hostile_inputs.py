"""Hand-made hostile inputs against a running `census ingest`: each gets its 4xx (or is counted),
quickly, without a 5xx, without blocking other clients or growing the process past a bound, and
the service stays healthy and keeps accepting good pings."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support import compat as bodies
from tests.support import hostile
from tests.support.ingest import pulse_ping
from tests.support.pipeline import service_env
from tests.support.processes import ServiceProcess, free_port
from tests.support.stack import StackEndpoints

JSON = {"Content-Type": "application/json"}


@dataclass
class Gateway:
    url: str
    port: int
    process: ServiceProcess


@pytest.fixture(scope="module")
async def gateway(
    stack_endpoints: StackEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    port, ops = free_port(), free_port()
    env = service_env(
        stack_endpoints.bootstrap,
        "postgresql://unused/x",
        f"census.hostile.{uuid.uuid4().hex[:8]}",
        "x",
    )
    env.update(
        {
            "CENSUS_INGEST_PORT": str(port),
            "CENSUS_INGEST_OPS_PORT": str(ops),
            "CENSUS_INGEST_BODY_TIMEOUT_S": "3",
            "CENSUS_INGEST_HEADER_TIMEOUT_S": "3",
        }
    )
    process = ServiceProcess(
        ["ingest"], env, ops, tmp_path_factory.mktemp("hostile") / "ingest.log"
    )
    await process.start()
    try:
        yield Gateway(f"http://127.0.0.1:{port}", port, process)
    finally:
        assert await process.stop() == 0
        assert b"Traceback" not in process.log_path.read_bytes()


async def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, route: str = "/v1/ping"
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + route, data=body, headers=headers or JSON) as reply,
    ):
        return reply.status, await reply.json(content_type=None)


async def still_healthy(gateway: Gateway) -> None:
    assert gateway.process.process is not None and gateway.process.process.poll() is None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{gateway.process.ops_port}/healthz") as reply,
    ):
        assert reply.status == 200
    status, _ = await post(gateway.url, json.dumps(pulse_ping()).encode())
    assert status == 202


def ping_text() -> str:
    return json.dumps(pulse_ping())


def with_vms(literal: str) -> bytes:
    text = ping_text()
    assert '"vms": 25' in text
    return text.replace('"vms": 25', f'"vms": {literal}').encode()


HOSTILE_BODIES = {
    "invalid UTF-8": (
        ping_text().replace('"linux"', '"lin\udcffx"').encode("utf-8", "surrogateescape"),
        400,
    ),
    "NaN": (with_vms("NaN"), 400),
    "Infinity": (with_vms("-Infinity"), 400),
    "integer past 2^64": (with_vms("36893488147419103232"), 202),  # costs the count only
    "10,000-deep nesting": (b'{"product": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400),
    "10,000-deep top level": (b"[" * 10_000 + b"]" * 10_000, 400),
    "duplicate keys": (
        ping_text().replace('"product": "pulse"', '"product": "novu", "product": "pulse"').encode(),
        400,
    ),
    "not JSON": (b"\x00\x01binary", 400),
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
async def test_hostile_body_gets_its_4xx(gateway: Gateway, name: str) -> None:
    body, expected = HOSTILE_BODIES[name]
    status, reply = await post(gateway.url, body)
    assert status == expected, reply
    if status == 202:  # the tolerant reader: the hostile field is dropped, the ping counted
        assert reply["dropped_fields"] == ["counts.vms"], reply
    else:
        assert reply["reason"]
    await still_healthy(gateway)


async def test_gzip_bomb_is_a_413_not_an_oom(gateway: Gateway) -> None:
    bomb = gzip.compress(b"\x00" * (256 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024  # small on the wire: only the decompressed-size limit stops it
    status, reply = await post(gateway.url, bomb, {**JSON, "Content-Encoding": "gzip"})
    assert status == 413
    assert "decompressed" in str(reply["reason"])
    await still_healthy(gateway)


async def raw_exchange(port: int, head: bytes, body_chunks: AsyncIterator[bytes]) -> bytes:
    """Send `head`, then stream the body until the server answers; return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answer = asyncio.create_task(reader.readline())
        writer.write(head)
        async for chunk in body_chunks:
            if answer.done():
                break
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
        return await asyncio.wait_for(answer, timeout=30)
    finally:
        writer.close()


async def test_100_mb_body_is_refused_before_it_is_read(gateway: Gateway) -> None:
    size = 100 * 1024 * 1024

    async def megabytes() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * (1024 * 1024)

    head = f"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    status_line = await raw_exchange(gateway.port, head.encode(), megabytes())
    assert b" 413 " in status_line
    chunked = b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

    async def chunks() -> AsyncIterator[bytes]:
        async for block in megabytes():
            yield b"%x\r\n" % len(block) + block + b"\r\n"

    assert b" 413 " in await raw_exchange(gateway.port, chunked, chunks())
    await still_healthy(gateway)


async def test_a_body_at_one_byte_per_second_gets_a_408(gateway: Gateway) -> None:
    body = ping_text().encode()
    head = f"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"

    async def trickle() -> AsyncIterator[bytes]:
        for byte in body:
            yield bytes([byte])
            await asyncio.sleep(1)

    started = asyncio.get_running_loop().time()
    assert b" 408 " in await raw_exchange(gateway.port, head.encode(), trickle())
    assert asyncio.get_running_loop().time() - started < 15
    await still_healthy(gateway)


async def test_headers_at_one_byte_per_second_are_cut_off(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = asyncio.get_running_loop().time()
    try:
        for byte in b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                break
            if reader.at_eof():
                break
            try:
                if await asyncio.wait_for(reader.read(1), timeout=1) == b"":
                    break  # the server closed the connection
            except TimeoutError:
                continue
    finally:
        writer.close()
    assert asyncio.get_running_loop().time() - started < 15
    await still_healthy(gateway)


# --- the compat routes ------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(hostile.NESTED_UNKNOWN))
async def test_100000_nested_unknown_keys_neither_freeze_nor_block(
    gateway: Gateway, route: str
) -> None:
    body = hostile.nested_unknown_gzip(route)
    normal = json.dumps(hostile.NESTED_UNKNOWN[route](0)).encode()
    loop = asyncio.get_running_loop()

    async def timed(data: bytes, headers: dict[str, str]) -> tuple[int, float]:
        started = loop.time()
        status, _ = await post(gateway.url, data, headers, route)
        return status, loop.time() - started

    assert (await timed(normal, JSON))[0] == 202
    attack = asyncio.create_task(timed(body, {**JSON, "Content-Encoding": "gzip"}))
    others = []
    while not attack.done():
        others.append(await timed(normal, JSON))
    status, elapsed = await attack
    assert status == 202
    assert elapsed < 10, elapsed  # once 45 s, with every other client blocked meanwhile
    assert others and all(code == 202 for code, _ in others)
    assert max(seconds for _, seconds in others) < 10, others
    await still_healthy(gateway)


@pytest.mark.parametrize("shape", list(hostile.LONG_NUMBERS))
async def test_a_proxmox_number_past_4300_digits_is_never_a_500(
    gateway: Gateway, shape: str
) -> None:
    body = hostile.proxmox_with(*hostile.LONG_NUMBERS[shape])
    status, reply = await post(gateway.url, body, route=hostile.PROXMOX)
    # The tolerant reader: a number that cannot be a count costs that field (202), or, where
    # bash's units make it ambiguous, the report (4xx); never a 5xx, never the digits kept.
    assert status == 202 or 400 <= status < 500, reply
    assert hostile.LONG_DIGITS[:50] not in str(reply)
    await still_healthy(gateway)


@pytest.mark.parametrize("route", list(bodies.ROUTE_BODIES))
async def test_a_repeated_key_is_refused_on_every_compat_route(
    gateway: Gateway, route: str
) -> None:
    status, reply = await post(gateway.url, hostile.duplicated(route), route=route)
    assert (status, reply["error"]) == (400, "invalid_json"), reply
    assert "appears twice" in str(reply["reason"])


@pytest.mark.parametrize("route", list(bodies.ROUTE_BODIES))
async def test_deep_nesting_in_an_ignored_field_is_a_4xx_on_every_compat_route(
    gateway: Gateway, route: str
) -> None:
    text = json.dumps(bodies.ROUTE_BODIES[route]()).encode()
    body = text[:-1] + b', "ignored": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    status, reply = await post(gateway.url, body, route=route)
    assert status == 400, reply
    await still_healthy(gateway)


# --- the header flood -------------------------------------------------------------------------

FLOOD_HEAD = (
    b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    + b"".join(b"X-Flood-%d: %s\r\n" % (i, b"a" * 8000) for i in range(129))
    + b"Content-Length: 2\r\n\r\n{}"
)
RSS_BAR_MB = 400
"""Below the 512 Mi Kubernetes limit with margin. Measured here: 46 MB idle, 224-280 MB peak
under this flood (and 183-256 MB before the fix in this short run; a longer-serving gateway
reached 646-688 MB before it, 151-188 MB after: services/common/lifecycle.py). On a faster
machine the 0.25 s clock alone let it reach 462-492 MB; collecting sooner while collections find
much garbage kept it at 249-270 MB."""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_header_flood_gets_400s_and_memory_stays_bounded(gateway: Gateway) -> None:
    process = gateway.process.process
    assert process is not None
    # A gateway that has been serving: batches leave many long-lived objects behind, after
    # which Python's own old-generation collections come rarely (as in production).
    batch = json.dumps([pulse_ping() for _ in range(1000)]).encode()
    async with aiohttp.ClientSession() as session:

        async def batches() -> None:
            for _ in range(5):
                async with session.post(gateway.url + "/v1/batch", data=batch, headers=JSON) as r:
                    assert r.status == 202

        await asyncio.gather(*(batches() for _ in range(8)))
    loop = asyncio.get_running_loop()
    end = loop.time() + 12
    statuses: dict[bytes, int] = {}
    peak = 0.0

    async def flood() -> None:
        while loop.time() < end:
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            try:
                writer.write(FLOOD_HEAD)
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), timeout=10)
                statuses[line[9:12]] = statuses.get(line[9:12], 0) + 1
            except ConnectionError:
                statuses[b"reset"] = statuses.get(b"reset", 0) + 1
            finally:
                writer.close()

    async def sample() -> None:
        nonlocal peak
        while loop.time() < end:
            peak = max(peak, rss_mb(process.pid))
            await asyncio.sleep(0.1)

    await asyncio.gather(sample(), *(flood() for _ in range(64)))
    answered = statuses.get(b"400", 0) + statuses.get(b"431", 0)
    assert answered > 500 and set(statuses) <= {b"400", b"431", b"reset"}, statuses
    assert peak < RSS_BAR_MB, (peak, statuses)
    await still_healthy(gateway)
