"""The fleet's client behaviour against an in-process HTTP server: backoff on 429/503, truth file."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from services.fleet.sender import FleetSender, SendPlan


class FlakyIngest:
    """Answers 429, then 503, then 202 to each distinct body; remembers what it acknowledged."""

    def __init__(self) -> None:
        self.attempts: dict[bytes, int] = {}
        self.acknowledged: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self.attempts.get(body, 0)
        self.attempts[body] = seen + 1
        if seen == 0:
            return web.Response(status=429, headers={"Retry-After": "0.05"})
        if seen == 1:
            return web.Response(status=503, headers={"Retry-After": "0.05"})
        items = json.loads(body)
        self.acknowledged.extend(items if isinstance(items, list) else [items])
        return web.json_response({"accepted": 1}, status=202)


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[FlakyIngest, str]]:
    fake = FlakyIngest()
    app = web.Application()
    app.router.add_post("/v1/ping", fake.handle)
    app.router.add_post("/v1/batch", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def numbered() -> Iterator[dict[str, Any]]:
    for n in itertools.count():
        yield {"n": n}


@pytest.mark.parametrize("batch", [1, 5])
async def test_retries_until_accepted_and_writes_only_acknowledged(
    ingest: tuple[FlakyIngest, str], batch: int
) -> None:
    fake, url = ingest
    truth = io.StringIO()
    plan = SendPlan(url=url, rate=200, duration_s=0.5, concurrency=4, batch=batch, drain_s=10)
    stats = await FleetSender(plan, numbered(), truth, random.Random(1)).run(asyncio.Event())
    written = [json.loads(line) for line in truth.getvalue().splitlines()]
    assert stats.accepted == len(written) == len(fake.acknowledged) > 0
    assert sorted(w["n"] for w in written) == sorted(a["n"] for a in fake.acknowledged)
    assert stats.throttled_requests == stats.unavailable_requests == len(fake.attempts)
    assert stats.rejected == 0
    assert stats.unconfirmed == 0
    assert all(count == 3 for count in fake.attempts.values())


async def test_rate_is_respected(ingest: tuple[FlakyIngest, str]) -> None:
    _fake, url = ingest
    plan = SendPlan(url=url, rate=50, duration_s=1.0, concurrency=4, batch=1, drain_s=10)
    stats = await FleetSender(plan, numbered(), None, random.Random(1)).run(asyncio.Event())
    # One second at 50/s plus at most the one-second burst allowance: never hundreds.
    assert 20 <= stats.sent <= 110
