"""Logging: aiohttp's client details are redacted before any handler writes them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from services.common.logs import configure_logging
from services.common.settings import LogSettings


@pytest.fixture
def captured() -> io.StringIO:
    configure_logging("test", LogSettings(level="INFO", format="json"))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    return stream


def test_client_address_and_bad_header_are_not_logged(captured: io.StringIO) -> None:
    logger = logging.getLogger("aiohttp.server")
    try:
        raise BadHttpMessage(
            "Invalid header value char:\n  b'X-Secret: marker-host.example.org\\x00'"
        )
    except BadHttpMessage as exc:
        logger.exception("Error handling request from %s", "203.0.113.9", exc_info=exc)
    (line,) = captured.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["message"] == "refused a malformed HTTP request (400)"
    assert "203.0.113.9" not in line and "marker-host" not in line and "exception" not in entry


def test_other_aiohttp_errors_keep_the_traceback_without_the_address(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("handler bug")
    except RuntimeError as exc:
        logging.getLogger("aiohttp.server").exception(
            "Error handling request from %s", "203.0.113.9", exc_info=exc
        )
    entry = json.loads(captured.getvalue())
    assert entry["message"] == "Error handling request"
    assert "handler bug" in entry["exception"]
    assert "203.0.113.9" not in captured.getvalue()


def test_own_records_pass_unchanged(captured: io.StringIO) -> None:
    logging.getLogger("services.x").warning("pings %s", 5, extra={"context": {"topic": "t"}})
    entry = json.loads(captured.getvalue())
    assert entry["message"] == "pings 5"
    assert entry["context"] == {"topic": "t"}
