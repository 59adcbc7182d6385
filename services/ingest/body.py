"""Reading a request body within a size limit, a time limit and a decompressed-size limit."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

from aiohttp import StreamReader


@dataclass(frozen=True, slots=True)
class BodyTooLarge(Exception):
    """The body, as sent or once decompressed, is larger than `limit` bytes."""

    limit: int
    decompressed: bool

    def __str__(self) -> str:
        what = "decompressed body" if self.decompressed else "body"
        return f"the {what} is larger than {self.limit} bytes"


@dataclass(frozen=True, slots=True)
class BodyTimeout(Exception):
    """The client did not send its whole body within `seconds`."""

    seconds: float

    def __str__(self) -> str:
        return f"the body did not arrive within {self.seconds:g} s"


@dataclass(frozen=True, slots=True)
class BadEncoding(Exception):
    """`Content-Encoding: gzip` with a body that is not valid gzip."""

    reason: str

    def __str__(self) -> str:
        return f"invalid gzip body: {self.reason}"


class _Gunzip:
    """Streaming gzip decompression that never holds more than `limit` bytes of output."""

    def __init__(self, limit: int) -> None:
        self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        while data:
            if self._inflate.eof:
                raise BadEncoding("data after the end of the gzip stream")
            try:
                # max_length bounds the output of one call: a bomb never inflates past limit + 1.
                out = self._inflate.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadEncoding(str(exc)) from None
            self._size += len(out)
            if self._size > self._limit:
                raise BodyTooLarge(self._limit, decompressed=True)
            self._parts.append(out)
            if self._inflate.unused_data:
                raise BadEncoding("data after the end of the gzip stream")
            data = self._inflate.unconsumed_tail

    def finish(self) -> bytes:
        if not self._inflate.eof:
            raise BadEncoding("truncated gzip stream")
        return b"".join(self._parts)


async def read_body(
    content: StreamReader,
    *,
    length: int | None,
    limit: int,
    timeout_s: float,
    gzip: bool,
    decompressed_limit: int,
) -> bytes:
    """The whole body, decompressed when `gzip`; raises BodyTooLarge, BodyTimeout, BadEncoding."""
    if length is not None and length > limit:
        raise BodyTooLarge(limit, decompressed=False)
    gunzip = _Gunzip(decompressed_limit) if gzip else None
    if content.is_eof():
        # Common case: the whole (small) body came with the headers; no timer needed.
        data = content.read_nowait()
        if len(data) > limit:
            raise BodyTooLarge(limit, decompressed=False)
        if gunzip is None:
            return data
        gunzip.feed(data)
        return gunzip.finish()
    parts: list[bytes] = []
    size = 0
    try:
        # aiohttp has no body timeout of its own: a slow client would hold the handler forever.
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit, decompressed=False)
                if gunzip is not None:
                    gunzip.feed(chunk)
                else:
                    parts.append(chunk)
    except TimeoutError:
        raise BodyTimeout(timeout_s) from None
    if gunzip is not None:
        return gunzip.finish()
    return parts[0] if len(parts) == 1 else b"".join(parts)
