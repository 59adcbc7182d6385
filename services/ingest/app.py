"""The public aiohttp application: POST /v1/ping, POST /v1/batch, GET /openapi.json."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from schemas.catalog import Catalogs, load_catalogs
from services.ingest.body import BadEncoding, BodyTimeout, BodyTooLarge, read_body
from services.ingest.clientaddr import bucket_key, client_address
from services.ingest.compat.common import CompatContext
from services.ingest.compat.registry import ROUTES as COMPAT_ROUTES
from services.ingest.compat.registry import CompatRoute
from services.ingest.config import IngestSettings
from services.ingest.metrics import IngestMetrics
from services.ingest.openapi import openapi_bytes
from services.ingest.publisher import KafkaPublisher, Publisher, PublishUnavailable
from services.ingest.ratelimit import RateLimiter
from services.ingest.replies import ACCEPTED_ONE, ENCODER, Accepted, Error
from services.ingest.retryid import RetryIds
from services.ingest.undeclared import UndeclaredNames
from services.ingest.validate import (
    Checked,
    Rejection,
    parse_json_batch,
    parse_ndjson_batch,
    parse_ping,
    to_record,
)

log = logging.getLogger(__name__)

Parse = Callable[[bytes, str], Checked]
"""(body, content type) → checked pings; raises Rejection."""

Clock = Callable[[], float]
"""Seconds since the epoch: stamps `received_at` and drives the rate limiter."""

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
_UTF8: Final = frozenset({"utf-8", "utf8"})
UNDECLARED_MIN_INSTALLS: Final = 5
"""An undeclared field name is shown on `/undeclared` once this many installs sent it (the
dashboard's default minimum group size: the same rule, k = 5)."""


class _RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s


class Gateway:
    """The request handlers and what they share; one per application."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        catalogs: Catalogs,
        metrics: IngestMetrics,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.catalogs = catalogs
        self.metrics = metrics
        self.clock = clock
        self.publisher: Publisher | None = None
        self.limiter = RateLimiter(
            rate=settings.rate_per_s, burst=settings.rate_burst, capacity=settings.rate_clients
        )
        self._openapi = openapi_bytes(
            max_batch=settings.max_batch,
            compat=COMPAT_ROUTES if settings.compat else (),
            catalogs=catalogs,
        )
        self._retry_after = str(settings.retry_after_s)
        self._retry_ids = RetryIds(settings.id_secret)
        self.undeclared = UndeclaredNames(
            settings.id_secret.encode(), min_installs=UNDECLARED_MIN_INSTALLS
        )

    # --- responses -------------------------------------------------------------------------

    def _reply(
        self, route: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.metrics.request(route, status)
        data = body if isinstance(body, bytes) else ENCODER.encode(body)
        return web.Response(status=status, body=data, content_type=JSON, headers=headers)

    def _refuse(self, route: str, rejection: Rejection) -> web.Response:
        self.metrics.rejected(rejection.error, rejection.product)
        return self._reply(
            route, rejection.status, Error(rejection.error, rejection.path, rejection.reason)
        )

    # --- the steps of a POST ---------------------------------------------------------------

    def _admit(self, request: web.Request) -> None:
        """Rate limit by client address; the address goes no further than the bucket table."""
        if not self.limiter.enabled:
            return
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = client_address(
            peer[0] if isinstance(peer, tuple) else None,
            request.headers.getall("X-Forwarded-For", ()),
            self.settings.trusted_proxies,
        )
        wait = self.limiter.take(bucket_key(address), self.clock())
        if wait > 0:
            raise _RateLimited(wait)

    def _media(self, request: web.Request, allowed: tuple[str, ...]) -> tuple[str, bool]:
        """(content type, gzip?) or a 415."""
        content_type = request.content_type
        if content_type not in allowed:
            raise Rejection(
                415,
                "unsupported_media_type",
                "$",
                f"Content-Type must be {' or '.join(allowed)}, got {content_type!r}",
            )
        charset = request.charset
        if charset is not None and charset.lower() not in _UTF8:
            raise Rejection(415, "unsupported_media_type", "$", "the charset must be utf-8")
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            return content_type, True
        if encoding in ("identity", ""):
            return content_type, False
        raise Rejection(
            415, "unsupported_media_type", "$", "Content-Encoding must be gzip or identity"
        )

    async def _read(self, request: web.Request, gzip: bool) -> bytes:
        s = self.settings
        try:
            return await read_body(
                request.content,
                length=request.content_length,
                limit=s.max_body_bytes,
                timeout_s=s.body_timeout_s,
                gzip=gzip,
                decompressed_limit=s.max_decompressed_bytes,
            )
        except BodyTooLarge as exc:
            raise Rejection(413, "too_large", "$", str(exc)) from None
        except BodyTimeout as exc:
            raise Rejection(408, "timeout", "$", str(exc)) from None
        except BadEncoding as exc:
            raise Rejection(400, "invalid_json", "$", str(exc)) from None

    async def _publish(self, route: str, checked: Checked) -> web.Response:
        publisher = self.publisher
        assert publisher is not None, "the publisher is set in cleanup_ctx"
        received_at = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        records = [to_record(ping, received_at, self._retry_ids) for ping in checked.pings]
        started = time.perf_counter()
        try:
            await publisher.publish(records, self.settings.publish_timeout_s)
        except PublishUnavailable as exc:
            reason = str(exc)
            self.metrics.rejected("unavailable")
            return self._reply(
                route,
                503,
                Error("unavailable", "$", reason + "; nothing was acknowledged"),
                {"Retry-After": self._retry_after},
            )
        self.metrics.produce_latency.observe(time.perf_counter() - started)
        self.metrics.accepted([record.product for record in records])
        if checked.dropped_fields:
            self.metrics.dropped(len(checked.dropped_fields))
            if checked.drops:  # none when only fields dropped on arrival are listed (compat)
                self.metrics.fields_dropped(checked.drops)
            if checked.undeclared:
                self.undeclared.add(checked.undeclared)
        if len(records) == 1 and not checked.dropped_fields:
            return self._reply(route, 202, ACCEPTED_ONE)
        return self._reply(
            route, 202, Accepted(len(records), checked.dropped_fields, checked.reasons)
        )

    async def _post(
        self, request: web.Request, route: str, allowed: tuple[str, ...], parse: Parse
    ) -> web.Response:
        """The steps every POST shares: rate limit, media type, bounded body, parse, publish."""
        try:
            self._admit(request)
            content_type, gzip = self._media(request, allowed)
            body = await self._read(request, gzip)
            checked = parse(body, content_type)
        except _RateLimited as exc:
            self.metrics.rate_limited.inc()
            return self._reply(
                route,
                429,
                Error("rate_limited", "$", "too many requests from this client"),
                {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
            )
        except Rejection as rejection:
            return self._refuse(route, rejection)
        return await self._publish(route, checked)

    # --- routes ----------------------------------------------------------------------------

    def _parse_ping(self, body: bytes, _content_type: str) -> Checked:
        return parse_ping(body, self.catalogs)

    def _parse_batch(self, body: bytes, content_type: str) -> Checked:
        if content_type == NDJSON:
            return parse_ndjson_batch(body, self.catalogs, max_count=self.settings.max_batch)
        return parse_json_batch(body, self.catalogs, max_count=self.settings.max_batch)

    async def ping(self, request: web.Request) -> web.Response:
        return await self._post(request, "/v1/ping", (JSON,), self._parse_ping)

    async def batch(self, request: web.Request) -> web.Response:
        return await self._post(request, "/v1/batch", (JSON, NDJSON), self._parse_batch)

    def compat(self, route: CompatRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The handler of one /compat/* route: the product's body instead of the canonical one,
        everything else exactly as /v1/ping."""
        context = CompatContext(self.catalogs, self.settings.id_secret.encode())

        def parse(body: bytes, _content_type: str) -> Checked:
            try:
                return route.adapt(body, context)
            except Rejection as rejection:
                if rejection.product is None and rejection.status == 422:
                    # The route names the product even when the body could not.
                    raise dataclasses.replace(rejection, product=route.mapping.product) from None
                raise

        async def handler(request: web.Request) -> web.Response:
            return await self._post(request, route.path, (JSON,), parse)

        return handler

    async def openapi(self, _request: web.Request) -> web.Response:
        self.metrics.request("/openapi.json", 200)
        return web.Response(body=self._openapi, content_type=JSON)


GATEWAY: Final = web.AppKey("gateway", Gateway)
PUBLISHER: Final = web.AppKey("publisher", Publisher)


def create_app(
    settings: IngestSettings,
    *,
    publisher: Publisher | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.time,
    catalogs: Catalogs | None = None,
) -> web.Application:
    """The public app. Without `publisher`, a KafkaPublisher is started in cleanup_ctx.

    Serve it with `runner_options(settings, app)`: aiohttp must not decompress bodies itself, or the
    decompressed-size limit would not apply.
    """
    catalogs = catalogs if catalogs is not None else load_catalogs()
    metrics = IngestMetrics(
        registry if registry is not None else CollectorRegistry(), catalogs.products
    )
    gateway = Gateway(
        settings,
        catalogs=catalogs,
        metrics=metrics,
        clock=clock,
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[GATEWAY] = gateway

    async def publisher_ctx(app: web.Application) -> AsyncIterator[None]:
        if publisher is not None:
            app[PUBLISHER] = publisher
            gateway.publisher = publisher
            metrics.track_inflight(lambda: publisher.inflight)
            metrics.track_kafka(lambda: publisher.readiness() is None)
            yield
            return
        async with KafkaPublisher(settings) as kafka:
            app[PUBLISHER] = kafka
            gateway.publisher = kafka
            metrics.track_inflight(lambda: kafka.inflight)
            metrics.track_kafka(lambda: kafka.readiness() is None)
            yield

    app.cleanup_ctx.append(publisher_ctx)
    app.router.add_post("/v1/ping", gateway.ping)
    app.router.add_post("/v1/batch", gateway.batch)
    app.router.add_get("/openapi.json", gateway.openapi)
    if settings.compat:
        for route in COMPAT_ROUTES:
            app.router.add_post(route.path, gateway.compat(route))
    return app


MAX_HEADERS: Final = 48
"""Request headers one request may carry (aiohttp allows 128): a telemetry client sends a handful,
proxies and CDNs add a dozen or two; more gets a 400 before anything else is read."""
MAX_HEADER_BYTES: Final = 4096
"""Longest request line and header value (aiohttp allows 8190). With MAX_HEADERS this bounds what
one connection's headers can hold to about 200 kB instead of 1 MB: a flood of oversized headers
once took ingest from 88 MB to 525-650 MB RSS, above its 512 Mi Kubernetes limit."""


def runner_options(settings: IngestSettings, app: web.Application) -> dict[str, Any]:
    """CensusAppRunner / CensusTestServer keyword arguments the gateway relies on; requests
    refused before routing count in `app`'s census_ingest_pings_rejected_total too."""
    metrics = app[GATEWAY].metrics
    return {
        # The runner's default refusal body is this gateway's Error shape (tested equal).
        "on_refusal": metrics.rejected,
        "max_headers": MAX_HEADERS,
        "max_field_size": MAX_HEADER_BYTES,
        "max_line_size": MAX_HEADER_BYTES,
        "auto_decompress": False,
        "access_log": None,  # the access log would carry client addresses
        # aiohttp applies keepalive_timeout from the connection's start too: a client that has
        # not completed its request headers by then is disconnected (the header timeout).
        "keepalive_timeout": settings.header_timeout_s,
    }


def readiness(app: web.Application) -> str | None:
    """For /readyz: None once the gateway can answer. Kafka's state is not part of it: while Kafka
    is away ingest answers 503 with Retry-After itself, which a load balancer that took every pod
    out would replace by its own error page. Kafka's state is census_ingest_kafka_connected."""
    return "starting" if app[GATEWAY].publisher is None else None


def kafka_problem(app: web.Application) -> str | None:
    """None while the producer reaches Kafka, else why not (metrics and tests, not /readyz)."""
    publisher = app[GATEWAY].publisher
    return "starting" if publisher is None else publisher.readiness()
