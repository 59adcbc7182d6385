"""The ops HTTP server every service runs: `/metrics`, `/healthz`, `/readyz`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from services.common.httpserver import CensusAppRunner, refusal_body
from services.common.settings import setting

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]
"""Returns None when ready, or a short reason why not."""


@dataclasses.dataclass(frozen=True)
class OpsSettings:
    host: str = setting("CENSUS_OPS_HOST", "127.0.0.1", "ops server bind address")


class OpsServer:
    """An `async with` aiohttp server on the ops port; closing is idempotent."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: ReadinessCheck,
        routes: Mapping[str, Callable[[], object]] | None = None,
    ) -> None:
        self._routes = dict(routes or {})
        self._host = host
        self._port = port
        self._registry = registry
        self._readiness = readiness
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        for path, read in self._routes.items():
            app.router.add_get(path, self._json(read))
        return app

    @staticmethod
    def _json(read: Callable[[], object]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A GET route of a service's own: what `read()` returns, as JSON."""

        async def handler(_request: web.Request) -> web.Response:
            return web.json_response(read())

        return handler

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        reason = self._readiness()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._runner is not None
        for address in self._runner.addresses:
            return int(address[1])
        return self._port

    async def __aenter__(self) -> OpsServer:
        self._runner = CensusAppRunner(
            self._app(),
            refusal_body=refusal_body,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("ops server on %s:%s", self._host, self.port)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
