"""Readiness: whether PostgreSQL answers, probed in the background for the ops server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import asyncpg

log = logging.getLogger(__name__)


class PostgresProbe:
    """`async with`: probes `dsn` every `interval_s`; `reason()` is None while it answers."""

    def __init__(self, dsn: str, *, interval_s: float = 5.0, timeout_s: float = 5.0) -> None:
        self._dsn = dsn
        self._interval = interval_s
        self._timeout = timeout_s
        self._reason: str | None = "PostgreSQL not probed yet"
        self._task: asyncio.Task[None] | None = None

    def reason(self) -> str | None:
        return self._reason

    async def probe(self) -> None:
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            try:
                await conn.fetchval("SELECT 1", timeout=self._timeout)
            finally:
                await asyncio.wait_for(conn.close(), timeout=self._timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self._reason is None:
                log.warning("PostgreSQL unreachable: %s", type(exc).__name__)
            self._reason = f"PostgreSQL unreachable ({type(exc).__name__})"
        else:
            self._reason = None

    async def _loop(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self._interval)

    async def __aenter__(self) -> PostgresProbe:
        await self.probe()
        self._task = asyncio.create_task(self._loop(), name="retention-pg-probe")
        return self

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=self._timeout)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
