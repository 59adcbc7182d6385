"""Logging setup: human-readable lines by default, one JSON object per line on request.

Services log through `logging.getLogger(__name__)` with lazy `%s` arguments. Context goes in
`extra={"context": {...}}`; it must never hold a client address, hostname or header.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

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


THROTTLE_INTERVAL_S: Final = 10.0
"""Per message template, one warning or error line per interval; the rest are counted."""

Key = tuple[str, int, str]
"""(logger name, level, message template): what makes two records "the same message"."""


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Suppressed:
    """`count` records like `key` were held back in the `seconds` up to now."""

    key: Key
    count: int
    seconds: float


class Throttle:
    """Deduplication with a clock, no I/O: per key, the first record of each interval passes and
    the others are counted; `due` returns the counts of the intervals that have ended, once each.

    Keys are message templates (never formatted text), so they come from a fixed set of call
    sites; `max_keys` bounds the table anyway (the least recently seen key is forgotten).
    """

    def __init__(
        self, interval_s: float, clock: Callable[[], float], *, max_keys: int = 1024
    ) -> None:
        self._interval = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._windows: OrderedDict[Key, _Window] = OrderedDict()
        self._ended: list[Suppressed] = []
        self._next_due = float("inf")

    def admit(self, key: Key) -> bool:
        """Whether a record of `key` is written now (else it is counted)."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None:
            self._windows.move_to_end(key)
            if now - window.started < self._interval:
                window.suppressed += 1
                self._next_due = min(self._next_due, window.started + self._interval)
                return False
            self._end(key, window, now)
            return True
        self._windows[key] = _Window(now)
        if len(self._windows) > self._max_keys:
            forgotten, old = self._windows.popitem(last=False)
            self._end(forgotten, old, now)
        return True

    def due(self) -> list[Suppressed]:
        """The counts of ended intervals that held records back; each is returned once."""
        now = self._clock()
        if now >= self._next_due:
            self._next_due = float("inf")
            for key, window in list(self._windows.items()):
                if window.suppressed and now - window.started >= self._interval:
                    self._end(key, window, now)
                    del self._windows[key]  # its next record is the first of a new interval
                elif window.suppressed:
                    self._next_due = min(self._next_due, window.started + self._interval)
        ended, self._ended = self._ended, []
        return ended

    def _end(self, key: Key, window: _Window, now: float) -> None:
        if window.suppressed:
            self._ended.append(Suppressed(key, window.suppressed, now - window.started))
        window.started, window.suppressed = now, 0


class ThrottleRepeats(logging.Filter):
    """Warnings and errors through a Throttle: a flood (aiokafka logs thousands of "Unable connect
    to node" errors a second while Kafka is down) becomes its first line, then one line per
    interval saying how many like it were suppressed. aiohttp's lines of any level too, since a
    client triggers those at will (one per malformed request). Other lower levels pass."""

    def __init__(self, throttle: Throttle) -> None:
        super().__init__()
        self._throttle = throttle
        self._reporting = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self._reporting:
            return True  # a report of ours, logged from below
        exempt = record.levelno < logging.WARNING and not record.name.startswith("aiohttp.")
        admitted = exempt or self._throttle.admit((record.name, record.levelno, str(record.msg)))
        self._report(self._throttle.due())  # before this record: the counts are older
        return admitted

    def _report(self, reports: list[Suppressed]) -> None:
        self._reporting = True
        try:
            for report in reports:
                name, level, template = report.key
                logging.getLogger(name).log(
                    level,
                    "%d more like %r suppressed in the last %.0f s",
                    report.count,
                    template,
                    report.seconds,
                )
        finally:
            self._reporting = False


def configure_logging(
    service: str, settings: LogSettings, *, clock: Callable[[], float] = time.monotonic
) -> None:
    """Route the root logger to stderr in the configured format; call once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service) if settings.format == "json" else TextFormatter(service)
    )
    handler.addFilter(RedactAiohttpClientDetails())
    # On the handler, not a logger: every logger's records (aiokafka's included) pass through it.
    handler.addFilter(ThrottleRepeats(Throttle(THROTTLE_INTERVAL_S, clock)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # aiohttp's access log carries client addresses: it stays off in every service.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
