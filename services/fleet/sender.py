"""Sends the fleet's pings over HTTP as a well-behaved client: paced, batched, retrying on 429/503."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import aiohttp

from services.fleet.progress import FleetStats, Progress

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class SendPlan:
    url: str
    rate: float
    duration_s: float
    concurrency: int
    batch: int
    drain_s: float
    max_backoff_s: float = 5.0
    without_ping_id: bool = False
    """Send as clients that carry no `ping_id` (as every seed product's does but Proxmox's):
    each ping gets a `sent_at` with microseconds instead, the client clock such clients send,
    so a retry repeats the content and two pings of one install never do."""


class Pacer:
    """Releases `rate` tokens per second to whoever asks, in order."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = asyncio.get_running_loop().time()
        self._lock = asyncio.Lock()

    async def take(self, tokens: int) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            self._next = max(self._next, now - 1.0)  # allow at most a second of burst after a stall
            wait = self._next - now
            self._next += tokens * self._interval
            if wait > 0:
                await asyncio.sleep(wait)


def retry_after(headers: Any, fallback: float) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", fallback)))
    except (TypeError, ValueError):
        return fallback


class FleetSender:
    """Posts batches until the duration ends, then drains what is in flight."""

    def __init__(
        self,
        plan: SendPlan,
        source: Iterator[dict[str, Any]],
        truth: IO[str] | None,
        rng: random.Random,
    ) -> None:
        self._plan = plan
        self._source = source
        self._truth = truth
        self._rng = rng
        self.stats = FleetStats()
        self._progress = Progress(self.stats)
        self._stop_taking = asyncio.Event()
        self._give_up = asyncio.Event()

    def _body(self, batch: list[dict[str, Any]]) -> tuple[str, bytes]:
        if self._plan.batch == 1:
            return "/v1/ping", json.dumps(batch[0]).encode()
        return "/v1/batch", json.dumps(batch).encode()

    async def _post_until_answered(
        self, session: aiohttp.ClientSession, batch: list[dict[str, Any]]
    ) -> None:
        path, body = self._body(batch)
        delay = 0.1
        while True:
            try:
                async with session.post(
                    self._plan.url + path, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    status = response.status
                    wait = retry_after(response.headers, delay)
            except (aiohttp.ClientError, TimeoutError):
                self.stats.connection_errors += 1
                status, wait = 0, delay
            if status == 202:
                self.stats.accepted += len(batch)
                if self._truth is not None:
                    self._truth.writelines(json.dumps(p, sort_keys=True) + "\n" for p in batch)
                return
            if status and status not in RETRYABLE:
                self.stats.rejected += len(batch)
                log.warning("ingest answered %s to a simulated ping; the fleet has a bug", status)
                return
            if status == 429:
                self.stats.throttled_requests += 1
            elif status == 503:
                self.stats.unavailable_requests += 1
            if self._give_up.is_set():
                # It may or may not have been counted: reported, never written as accepted.
                self.stats.unconfirmed += len(batch)
                return
            self.stats.retried_requests += 1
            await asyncio.sleep(min(wait, self._plan.max_backoff_s) * self._rng.uniform(0.8, 1.2))
            delay = min(delay * 2, self._plan.max_backoff_s)

    def _as_sent(self, ping: dict[str, Any]) -> dict[str, Any]:
        if not self._plan.without_ping_id:
            return ping
        ping = {key: value for key, value in ping.items() if key != "ping_id"}
        ping["sent_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        return ping

    async def _worker(self, session: aiohttp.ClientSession, pacer: Pacer) -> None:
        while not self._stop_taking.is_set():
            await pacer.take(self._plan.batch)
            if self._stop_taking.is_set():
                return
            batch = [self._as_sent(next(self._source)) for _ in range(self._plan.batch)]
            self.stats.sent += len(batch)
            await self._post_until_answered(session, batch)
            self._progress.tick()

    async def run(self, stop: asyncio.Event) -> FleetStats:
        pacer = Pacer(self._plan.rate)
        timeout = aiohttp.ClientTimeout(total=30, connect=5)
        connector = aiohttp.TCPConnector(limit=self._plan.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            workers = [
                asyncio.create_task(self._worker(session, pacer))
                for _ in range(self._plan.concurrency)
            ]
            ticker = asyncio.create_task(self._tick_forever())
            try:
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait([stopped], timeout=self._plan.duration_s)
                stopped.cancel()
                self._stop_taking.set()
                _done, pending = await asyncio.wait(workers, timeout=self._plan.drain_s)
                if pending:
                    self._give_up.set()
                    await asyncio.wait(pending, timeout=self._plan.max_backoff_s + 35)
                for task in pending:
                    task.cancel()
            finally:
                ticker.cancel()
        self._progress.finish()
        return self.stats

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._progress.tick()
