"""Logging setup: human-readable lines by default, one JSON object per line on request.

Services log through `logging.getLogger(__name__)` with lazy `%s` arguments. Context goes in
`extra={"context": {...}}`; it must never hold a client address, hostname or header.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from services.common.settings import LogSettings


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "service": self._service,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "context", None)
        if isinstance(context, dict):
            entry["context"] = context
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, "context", None)
        if isinstance(context, dict) and context:
            line += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return line


class RedactAiohttpClientDetails(logging.Filter):
    """aiohttp's server logs name the client's address ("Error handling request from %s") and,
    for a malformed request, echo the offending header line: neither may reach our logs.

    A malformed request is the client's problem, not ours: it becomes one INFO line without a
    traceback. Any other aiohttp error keeps its traceback but loses the address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiohttp."):
            return True
        if "from %s" in str(record.msg):
            record.msg = str(record.msg).replace(" from %s", "")
            record.args = ()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed HTTP request (%s)"
            record.args = (exc.code,)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure_logging(service: str, settings: LogSettings) -> None:
    """Route the root logger to stderr in the configured format; call once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service) if settings.format == "json" else TextFormatter(service)
    )
    handler.addFilter(RedactAiohttpClientDetails())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # aiohttp's access log carries client addresses: it stays off in every service.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
