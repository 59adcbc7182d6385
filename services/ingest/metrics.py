"""The census_ingest_* metrics on an injected registry; no label takes a client-chosen value."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.ingest.compat.registry import PATHS as COMPAT_PATHS
from services.ingest.tally import CounterTally, HistogramTally, no_labels

ROUTES: Final = ("/v1/ping", "/v1/batch", "/openapi.json", *COMPAT_PATHS, "other")
REJECT_REASONS: Final = (
    "invalid_json",
    "invalid_ping",
    "unknown_product",
    "unknown_event",
    "too_large",
    "too_many",
    "unsupported_media_type",
    "timeout",
    "unavailable",
    "malformed_request",  # refused before routing (services/common/httpserver.py)
    "internal",  # a failure outside every handler's own error handling (500)
)


PRODUCT_OUTCOMES: Final = ("accepted", "invalid")


def _route_status(key: tuple[str, int]) -> tuple[str, str]:
    route, status = key
    return (route if route in ROUTES else "other", str(status))


def _as_is(key: tuple[str, str]) -> tuple[str, str]:
    return key


class IngestMetrics:
    """What every request counts (requests, accepted pings, their products, the produce
    latency, fields dropped) is tallied in plain numbers (services/ingest/tally.py); the rest,
    counted on rarer paths, are prometheus_client's own."""

    def __init__(self, registry: CollectorRegistry, products: Iterable[str] = ()) -> None:
        self._requests: CounterTally[tuple[str, int]] = CounterTally(
            "census_ingest_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
            _route_status,
            registry=registry,
        )
        self._pings_accepted: CounterTally[None] = CounterTally(
            "census_ingest_pings_accepted_total",
            "pings acknowledged by Kafka and answered 202",
            [],
            no_labels,
            registry=registry,
            seed=[None],
        )
        self._rejected = Counter(
            "census_ingest_pings_rejected_total",
            "requests refused, by reason",
            ["reason"],
            registry=registry,
        )
        # Tallied: every real client's request drops some field by design (a hostname, an
        # address, a licence id), so this is counted per request on the compat routes.
        self._dropped_fields: CounterTally[None] = CounterTally(
            "census_ingest_dropped_fields_total",
            "fields dropped or replaced in accepted requests (each name once per request)",
            [],
            no_labels,
            registry=registry,
            seed=[None],
        )
        self._fields_dropped = Counter(
            "census_ingest_fields_dropped_total",
            "fields of accepted pings dropped or replaced by the tolerant reader, by product and why",
            ["product", "reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "census_ingest_rate_limited_total", "requests answered 429", registry=registry
        )
        self.produce_latency = HistogramTally(
            "census_ingest_produce_latency_seconds",
            "time from handing a request's records to the producer until Kafka acknowledged all",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self._inflight = Gauge(
            "census_ingest_inflight_pings",
            "pings handed to the producer and not yet acknowledged",
            registry=registry,
        )
        # Kafka's state lives here, not in /readyz: an ingest that cannot reach Kafka still
        # answers (503 with Retry-After), so it must stay behind the load balancer.
        self._kafka_connected = Gauge(
            "census_ingest_kafka_connected",
            "1 while the producer reaches Kafka; 0 while pings are refused with 503 for want of it",
            registry=registry,
        )
        # Per catalogued product (a fixed set, never the client's string): how many pings were
        # accepted and how many were refused as invalid, so an alert can see one product's
        # client release start sending broken pings.
        self._products = frozenset(products)
        self._product_pings: CounterTally[tuple[str, str]] = CounterTally(
            "census_ingest_product_pings_total",
            "pings of a catalogued product, by outcome (accepted or invalid)",
            ["product", "outcome"],
            _as_is,
            registry=registry,
            seed=[(p, outcome) for p in sorted(self._products) for outcome in PRODUCT_OUTCOMES],
        )
        for reason in REJECT_REASONS:
            self._rejected.labels(reason)

    def request(self, route: str, status: int) -> None:
        self._requests.inc((route, status))

    def rejected(self, reason: str, product: str | None = None) -> None:
        self._rejected.labels(reason if reason in REJECT_REASONS else "invalid_ping").inc()
        if product in self._products and reason in {"invalid_ping", "unknown_event"}:
            self._product_pings.inc((product, "invalid"))

    def dropped(self, fields: int) -> None:
        """Fields dropped or replaced in one accepted request (each name once)."""
        self._dropped_fields.inc(None, fields)

    def fields_dropped(self, drops: Iterable[tuple[str, str]]) -> None:
        """(product, reason) per dropped field; both from fixed sets (catalog, DropCode)."""
        for (product, reason), n in collections.Counter(drops).items():
            if product in self._products:
                self._fields_dropped.labels(product, str(reason)).inc(n)

    def accepted(self, products: Sequence[str]) -> None:
        """One accepted request's pings, in all and by product."""
        self._pings_accepted.inc(None, len(products))
        counted: Iterable[tuple[str, int]] = (
            ((products[0], 1),) if len(products) == 1 else collections.Counter(products).items()
        )
        for product, n in counted:
            if product in self._products:
                self._product_pings.inc((product, "accepted"), n)

    def track_inflight(self, read: Callable[[], int]) -> None:
        self._inflight.set_function(lambda: float(read()))

    def track_kafka(self, connected: Callable[[], bool]) -> None:
        self._kafka_connected.set_function(lambda: 1.0 if connected() else 0.0)
