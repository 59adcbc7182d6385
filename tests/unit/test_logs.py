"""Logging: aiohttp's client details are redacted before any handler writes them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from services.common.logs import Suppressed, Throttle, configure_logging
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


# --- floods: the first line, then how many were suppressed per interval -----------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEY = ("aiokafka.client", logging.ERROR, "Unable connect to node with id %s: %s")


def test_throttle_lets_the_first_through_and_counts_the_rest() -> None:
    clock = Clock()
    throttle = Throttle(10.0, clock)
    assert [throttle.admit(KEY) for _ in range(1000)] == [True] + [False] * 999
    clock.now += 9.9
    assert throttle.due() == []  # the interval has not ended
    assert throttle.admit(KEY) is False
    clock.now += 0.1
    assert throttle.due() == [Suppressed(KEY, 1000, 10.0)]
    assert throttle.due() == []  # reported once
    assert throttle.admit(KEY) is True  # the first of a new interval
    assert throttle.admit(KEY) is False
    clock.now += 10
    assert throttle.admit(KEY) is True  # an interval ended: its count is due, this one passes
    assert throttle.due() == [Suppressed(KEY, 1, 10.0)]


def test_throttle_keeps_keys_apart_and_bounds_its_table() -> None:
    clock = Clock()
    throttle = Throttle(10.0, clock, max_keys=2)
    other = (KEY[0], logging.WARNING, KEY[2])
    assert throttle.admit(KEY) and throttle.admit(other)
    assert not throttle.admit(KEY) and not throttle.admit(other)
    assert throttle.admit(("x", logging.ERROR, "third"))  # forgets the least recent key
    assert throttle.due() == [Suppressed(KEY, 1, 0.0)]  # and reports what it held
    assert throttle.admit(KEY)


def test_an_aiokafka_flood_becomes_one_line_then_a_count_per_interval() -> None:
    clock = Clock()
    configure_logging("ingest", LogSettings(level="INFO", format="json"), clock=clock)
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    loggers = [logging.getLogger(n) for n in ("aiokafka.client", "aiokafka.producer.sender")]
    for _ in range(25):  # 25 s of Kafka down, 1,000 errors a second from each logger
        for i in range(1_000):
            for logger in loggers:
                logger.error("Unable connect to node with id %s: %s", i % 3, "refused")
        clock.now += 1
    logging.getLogger("services.ingest.publisher").info("Kafka connected")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_logger = {
        name: [e["message"] for e in entries if e["logger"] == name]
        for name in ("aiokafka.client", "aiokafka.producer.sender")
    }
    for messages in by_logger.values():
        assert messages[0] == "Unable connect to node with id 0: refused"  # the first, visible
        template = "'Unable connect to node with id %s: %s'"  # 10 s x 1,000 - the first
        assert messages[1:] == [
            f"9999 more like {template} suppressed in the last 10 s",
            "Unable connect to node with id 0: refused",
            f"9999 more like {template} suppressed in the last 10 s",
            "Unable connect to node with id 0: refused",
        ]
    assert entries[-1]["message"] == "Kafka connected"
    assert len(entries) == 11


def test_info_lines_are_never_throttled(captured: io.StringIO) -> None:
    for _ in range(100):
        logging.getLogger("services.aggregator.flush").info("flushed %s pings", 10)
    assert len(captured.getvalue().splitlines()) == 100


def test_a_flood_of_malformed_requests_is_throttled_too(captured: io.StringIO) -> None:
    logger = logging.getLogger("aiohttp.server")
    for _ in range(1000):
        try:
            raise BadHttpMessage("Too many headers received")
        except BadHttpMessage as exc:
            logger.exception("Error handling request from %s", "203.0.113.9", exc_info=exc)
    (line,) = captured.getvalue().splitlines()  # the rest are counted, reported after 10 s
    assert json.loads(line)["message"] == "refused a malformed HTTP request (400)"
