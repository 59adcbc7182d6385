"""Ingest's readiness means "this process can answer": it stays ready while Kafka is away (and
answers 503 with Retry-After itself); Kafka's state is the census_ingest_kafka_connected gauge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.ingest.app import kafka_problem, readiness
from tests.support.ingest import FakePublisher, encode, ingest_client, pulse_ping

JSON = {"Content-Type": "application/json"}


def kafka_connected(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("census_ingest_kafka_connected")


async def test_ingest_stays_ready_and_answers_503_while_kafka_is_away() -> None:
    publisher, registry = FakePublisher(), CollectorRegistry()
    publisher.down = True
    async with ingest_client(publisher=publisher, registry=registry) as client:
        app = client.app
        assert app is not None
        assert readiness(app) is None
        assert kafka_problem(app) is not None
        assert kafka_connected(registry) == 0.0
        response = await client.post("/v1/ping", data=encode(pulse_ping()), headers=JSON)
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert response.content_type == "application/json"
        assert "error" in await response.json()

        publisher.down = False
        assert readiness(app) is None and kafka_problem(app) is None
        assert kafka_connected(registry) == 1.0
        response = await client.post("/v1/ping", data=encode(pulse_ping()), headers=JSON)
        assert response.status == 202
