"""Request heads are bounded: too many headers or too long a header is a 400 before anything
else is read (each refused head once left a 256 KiB read behind until a full collection)."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.app import MAX_HEADER_BYTES, MAX_HEADERS
from tests.support.ingest import encode, ingest_client, pulse_ping


async def status_of(port: int, headers: list[bytes]) -> bytes:
    body = encode(pulse_ping())
    head = b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"".join(h + b"\r\n" for h in headers)
    head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()
    return line.split(b" ")[1]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([b"X-N%d: 1" % i for i in range(MAX_HEADERS - 4)], b"202"),  # + the four above
        ([b"X-N%d: 1" % i for i in range(MAX_HEADERS + 1)], b"400"),
        ([b"X-Long: " + b"a" * (MAX_HEADER_BYTES - 100)], b"202"),
        ([b"X-Long: " + b"a" * (MAX_HEADER_BYTES + 1)], b"400"),
        ([b"X-Flood-%d: %s" % (i, b"a" * 8000) for i in range(129)], b"400"),
    ],
)
async def test_header_limits(headers: list[bytes], status: bytes) -> None:
    async with ingest_client() as client:
        port = client.port
        assert port is not None
        assert await status_of(port, headers) == status
