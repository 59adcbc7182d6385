"""Reading bodies: size limits before and after gzip, bounded memory for a bomb."""

from __future__ import annotations

import gzip
import tracemalloc
from unittest import mock

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from services.ingest.body import BadEncoding, BodyTooLarge, read_body


def stream(*chunks: bytes) -> StreamReader:
    reader = StreamReader(mock.Mock(spec=BaseProtocol), 2**16, loop=mock.Mock())
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def read(reader: StreamReader, *, gzip_: bool = False, length: int | None = None) -> bytes:
    return await read_body(
        reader, length=length, limit=1000, timeout_s=5, gzip=gzip_, decompressed_limit=10_000
    )


async def test_plain_and_chunked_bodies() -> None:
    assert await read(stream(b"abc")) == b"abc"
    assert await read(stream(b"ab", b"c", b"d")) == b"abcd"


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(BodyTooLarge) as caught:
        await read(stream(), length=1001)
    assert caught.value.limit == 1000 and not caught.value.decompressed


async def test_gzip_round_trip_and_errors() -> None:
    data = gzip.compress(b'{"a": 1}')
    assert await read(stream(data[:5], data[5:]), gzip_=True) == b'{"a": 1}'
    with pytest.raises(BadEncoding):
        await read(stream(data[:-4]), gzip_=True)
    with pytest.raises(BadEncoding):
        await read(stream(b"not gzip at all"), gzip_=True)
    with pytest.raises(BadEncoding):
        await read(stream(data + b"trailing"), gzip_=True)


async def test_gzip_bomb_stops_at_the_limit_without_inflating() -> None:
    bomb = gzip.compress(b"\0" * 100_000_000, compresslevel=9)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge) as caught:
            await read_body(
                stream(bomb),
                length=None,
                limit=1_000_000,
                timeout_s=5,
                gzip=True,
                decompressed_limit=10_000,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.decompressed
    assert peak < 2_000_000  # the 100 MB never existed
