"""The public aiohttp application: the pages, /api/v1/ and the static files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import msgspec
from aiohttp import web

from schemas.catalog import Catalog, load_catalogs
from services.dashboard import api, params, store
from services.dashboard.cache import AnswerCache
from services.dashboard.config import DashboardSettings
from services.dashboard.export import day_export, to_csv
from services.dashboard.openapi import openapi_bytes
from services.dashboard.outcomes import default_by, run_event
from services.dashboard.pages import Pages
from services.dashboard.reader import Clock, Reader, Rules

log = logging.getLogger(__name__)

STATIC: Final = Path(__file__).with_name("static")
JSON: Final = "application/json"
PROBE_INTERVAL_S: Final = 5.0

READER: Final = web.AppKey("reader", Reader)
CACHE: Final = web.AppKey("cache", AnswerCache)
SETTINGS: Final = web.AppKey("settings", DashboardSettings)


class Health:
    """Why the dashboard is not ready, or None."""

    def __init__(self) -> None:
        self.reason: str | None = "starting"


HEALTH: Final = web.AppKey("health", Health)

Produce = Callable[[], Awaitable[tuple[bytes, str]]]


def refusal_body(_status: int, code: str, reason: str) -> bytes:
    """The body of a request refused before routing (services/common/httpserver.py): the
    dashboard's Problem shape, as every other refusal of it."""
    return msgspec.json.encode(api.Problem(code, None, reason))


def _problem(status: int, error: str, parameter: str | None, reason: str) -> web.Response:
    body = msgspec.json.encode(api.Problem(error, parameter, reason))
    return web.Response(status=status, body=body, content_type=JSON)


async def _answer(request: web.Request, produce: Produce) -> web.StreamResponse:
    """A cached answer with its ETag; parameter errors as 4xx, an unavailable store as 503."""
    cache = request.app[CACHE]
    key = request.path_qs
    entry = cache.get(key)
    if entry is None:
        try:
            body, content_type = await produce()
        except params.ParamError as exc:
            return _problem(exc.status, "bad_parameter", exc.name, exc.reason)
        except store.StoreUnavailable:
            return _problem(503, "unavailable", None, "the database cannot answer now; retry later")
        entry = cache.put(key, body, content_type)
    headers = {
        "ETag": entry.etag,
        "Cache-Control": f"public, max-age={int(request.app[SETTINGS].cache_s)}",
    }
    if entry.etag in request.headers.getall("If-None-Match", ()):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if entry.content_type.startswith("text/") else None
    return web.Response(
        body=entry.body,
        headers=headers,
        content_type=entry.content_type.split(";")[0],
        charset=charset,
    )


def _json(value: Any) -> tuple[bytes, str]:
    return msgspec.json.encode(value), JSON


def _catalog(request: web.Request) -> Catalog:
    return params.product(request.app[READER].catalogs, request.match_info["product"])


def _range(request: web.Request) -> params.DayRange:
    reader = request.app[READER]
    return params.day_range(request.query, reader.today(), request.app[SETTINGS].max_days)


async def products(request: web.Request) -> web.StreamResponse:
    reader = request.app[READER]

    async def produce() -> tuple[bytes, str]:
        return _json(await reader.products())

    return await _answer(request, produce)


async def activity(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        catalog, days = _catalog(request), _range(request)
        return _json(await request.app[READER].activity(catalog, days))

    return await _answer(request, produce)


async def breakdown(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        catalog = _catalog(request)
        dimension = params.dimension(catalog, request.match_info["dimension"])
        days = _range(request)
        return _json(await request.app[READER].breakdown(catalog, dimension, days))

    return await _answer(request, produce)


async def counts(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        catalog = _catalog(request)
        reader = request.app[READER]
        day = params.one_day(request.query, reader.today())
        return _json(await reader.counts(catalog, day))

    return await _answer(request, produce)


def outcome_params(catalog: Catalog, query: Any) -> tuple[str, str]:
    """(event, by) of an outcomes request, defaults from the catalog."""
    event = params.run_event(catalog, query.get("event"), run_event(catalog))
    by = params.outcome_by(catalog, query.get("by") or default_by(catalog))
    return event, by


async def outcomes(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        catalog = _catalog(request)
        event, by = outcome_params(catalog, request.query)
        days = _range(request)
        return _json(await request.app[READER].outcomes(catalog, event, by, days))

    return await _answer(request, produce)


async def cohorts(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        return _json(await request.app[READER].cohorts(_catalog(request)))

    return await _answer(request, produce)


async def export(request: web.Request) -> web.StreamResponse:
    async def produce() -> tuple[bytes, str]:
        catalog = _catalog(request)
        reader = request.app[READER]
        name = request.match_info["file"]
        stem, _, suffix = name.rpartition(".")
        if suffix not in {"csv", "json"}:
            raise params.ParamError("day", "expected <YYYY-MM-DD>.csv or <YYYY-MM-DD>.json", 404)
        day = params.one_day({"day": stem}, reader.today())
        data = await day_export(reader, catalog, day)
        if suffix == "csv":
            return to_csv(data).encode(), "text/csv; charset=utf-8"
        return _json(data)

    return await _answer(request, produce)


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(body=openapi_bytes(), content_type=JSON)


def page(
    render: Callable[[web.Request, Pages], Awaitable[str]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A server-rendered HTML page, cached like the API."""

    async def handler(request: web.Request) -> web.StreamResponse:
        pages = Pages(request.app[READER], request.app[SETTINGS].max_days)

        async def produce() -> tuple[bytes, str]:
            return (await render(request, pages)).encode(), "text/html; charset=utf-8"

        return await _answer(request, produce)

    return handler


async def _overview(request: web.Request, pages: Pages) -> str:
    return await pages.overview(request.query)


async def _product_page(request: web.Request, pages: Pages) -> str:
    return await pages.product(_catalog(request), request.query)


async def _fields_page(request: web.Request, pages: Pages) -> str:
    return await pages.fields(_catalog(request))


async def _cohorts_page(request: web.Request, pages: Pages) -> str:
    return await pages.cohorts(_catalog(request))


@web.middleware
async def own_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors the router raises (unknown path, wrong method) in Census's words, as JSON."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _problem(404, "not_found", "path", "no such page or route; see /api/v1/openapi.json")
    except web.HTTPMethodNotAllowed:
        response = _problem(405, "method_not_allowed", "method", "only GET and HEAD are served")
        response.headers["Allow"] = "GET, HEAD"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _problem(exc.status, "refused", None, "this request cannot be served")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Pages load nothing from another host: the browser is told so too."""
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


async def _probe(app: web.Application) -> None:
    """Reads freshness every few seconds; its outcome is readiness."""
    reader, health = app[READER], app[HEALTH]
    while True:
        try:
            await reader.refresh_freshness()
            health.reason = None
        except store.StoreUnavailable as exc:
            health.reason = f"PostgreSQL unavailable ({exc})"
        await asyncio.sleep(PROBE_INTERVAL_S)


def create_app(
    settings: DashboardSettings,
    *,
    analyst_store: store.AnalystStore | None = None,
    clock: Clock | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    on_reader: Callable[[Reader], None] | None = None,
) -> web.Application:
    """The application; with `analyst_store` (a fake) it opens no pool."""
    import datetime as dt

    app = web.Application(middlewares=[security_headers, own_errors])
    app[SETTINGS] = settings
    app[CACHE] = AnswerCache(
        ttl_s=settings.cache_s, entries=settings.cache_entries, clock=monotonic
    )
    app[HEALTH] = Health()
    catalogs = load_catalogs().by_product
    rules = Rules(settings.min_installs, settings.min_runs)
    now = clock or (lambda: dt.datetime.now(dt.UTC))

    async def resources(app: web.Application) -> AsyncIterator[None]:
        pool = None
        if analyst_store is None:
            pool = await store.open_pool(
                settings.dsn,
                size=settings.pool_size,
                statement_timeout_ms=settings.statement_timeout_ms,
                timeout_s=settings.pg.connect_timeout_s,
            )
            backend: store.AnalystStore = store.PgAnalystStore(pool)
        else:
            backend = analyst_store
        app[READER] = Reader(backend, catalogs, rules, now)
        if on_reader is not None:
            on_reader(app[READER])
        probe = asyncio.create_task(_probe(app))
        try:
            yield
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            if pool is not None:
                await store.close_pool(pool)

    app.cleanup_ctx.append(resources)
    r = app.router
    r.add_get("/", page(_overview))
    r.add_get("/products/{product}", page(_product_page))
    r.add_get("/products/{product}/fields", page(_fields_page))
    r.add_get("/products/{product}/cohorts", page(_cohorts_page))
    r.add_get("/api/v1/openapi.json", openapi)
    r.add_get("/api/v1/products", products)
    r.add_get("/api/v1/products/{product}/activity", activity)
    r.add_get("/api/v1/products/{product}/breakdown/{dimension}", breakdown)
    r.add_get("/api/v1/products/{product}/counts", counts)
    r.add_get("/api/v1/products/{product}/outcomes", outcomes)
    r.add_get("/api/v1/products/{product}/cohorts", cohorts)
    r.add_get("/api/v1/export/{product}/{file}", export)
    r.add_static("/static/", STATIC, append_version=False)
    return app


def readiness(app: web.Application) -> str | None:
    return app[HEALTH].reason
