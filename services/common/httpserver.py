"""An aiohttp AppRunner whose answers to requests that never reach the app are Census's own.

aiohttp answers a request it cannot parse (a malformed request line or header, a header over
the size limits) before any route runs, with its parser's message as a text/plain body: a
library's wording, which an upgrade may change, echoing bytes of the request. `CensusAppRunner`
answers those with the service's own error body instead, in words from `refusal_reason`. The log
line aiohttp writes for them is kept (services/common/logs.py redacts it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

RefusalBody = Callable[[int, str, str], bytes]
"""(status, error code, reason) → the body of the service's error shape, as JSON."""
OnRefusal = Callable[[str], None]
"""Told the error code of each such refusal (a service's metrics)."""

MALFORMED: Final = "malformed_request"
"""The error code of a request aiohttp could not parse (4xx before any route)."""
INTERNAL: Final = "internal"
"""The error code of a failure outside every handler's own error handling (500)."""


def refusal_reason(status: int, exc: BaseException | None) -> tuple[str, str]:
    """The error code and Census's reason for what aiohttp refused itself with `status`."""
    if status >= 500:
        return INTERNAL, "the server failed to answer this request; nothing was acknowledged"
    if isinstance(exc, BadHttpMethod):
        return MALFORMED, "not an HTTP/1.1 request: its request line has no valid method"
    if isinstance(exc, LineTooLong):
        return MALFORMED, "a request line or header is longer than this server accepts"
    return MALFORMED, (
        "not a well-formed HTTP/1.1 request: a malformed request line or header, too many "
        "headers, or an invalid Content-Length or Transfer-Encoding; nothing was read"
    )


def refusal_body(_status: int, code: str, reason: str) -> bytes:
    """The default error shape, ingest's: `{"error": code, "path": "$", "reason": text}`."""
    return msgspec.json.encode({"error": code, "path": "$", "reason": reason})


class _RequestHandler(RequestHandler):
    __slots__ = ()
    refusal_body: RefusalBody  # both set on the subclass made per runner
    on_refusal: OnRefusal | None

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own first: it logs the error and refuses when a response has begun.
        super().handle_error(request, status, exc, message)
        code, reason = refusal_reason(status, exc)
        if self.on_refusal is not None:
            self.on_refusal(code)
        response = web.Response(
            status=status,
            body=self.refusal_body(status, code, reason),
            content_type="application/json",
        )
        response.force_close()  # as aiohttp does: the connection's state is unknown
        return response


class _Server(web.Server):
    handler_class: type[_RequestHandler]

    def __call__(self) -> RequestHandler:
        return self.handler_class(self, loop=self._loop, **self._kwargs)


class CensusAppRunner(web.AppRunner):
    """web.AppRunner, except that requests refused before routing get `refusal_body`'s body."""

    def __init__(
        self,
        app: web.Application,
        *,
        refusal_body: RefusalBody = refusal_body,
        on_refusal: OnRefusal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self._handler_class = type(
            "CensusRequestHandler",
            (_RequestHandler,),
            {
                "__slots__": (),
                "refusal_body": staticmethod(refusal_body),
                "on_refusal": None if on_refusal is None else staticmethod(on_refusal),
            },
        )

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app's own Server, made by aiohttp, with one change: its connections' handler class.
        server.__class__ = _Server
        assert isinstance(server, _Server)
        server.handler_class = self._handler_class
        return server
