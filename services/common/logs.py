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


def configure_logging(service: str, settings: LogSettings) -> None:
    """Route the root logger to stderr in the configured format; call once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service) if settings.format == "json" else TextFormatter(service)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # aiohttp's access log carries client addresses: it stays off in every service.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
