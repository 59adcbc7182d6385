"""Kafka goes away and comes back: 503 and never 202 meanwhile, 202 again without a restart.

Uses a PRIVATE broker (never the shared one) because it stops Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.support.ingest import IngestProcess, post_ping, pulse_ping
from tests.support.ports import INGEST_OUTAGE
from tests.support.stack import LocalStack


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[LocalStack]:
    stack = LocalStack.private("test-ingest", INGEST_OUTAGE)
    stack.start_kafka()
    try:
        yield stack
    finally:
        stack.stop_kafka()


async def test_kafka_outage_means_503_then_recovery_without_restart(
    private_kafka: LocalStack,
) -> None:
    ingest = IngestProcess(
        private_kafka.bootstrap,
        "census.test.ingest-outage",
        CENSUS_INGEST_PUBLISH_TIMEOUT_S="2",
        CENSUS_INGEST_KAFKA_PROBE_S="0.5",
        CENSUS_INGEST_RETRY_AFTER_S="3",
    )
    ingest.start()
    try:
        async with aiohttp.ClientSession() as session:
            await ingest.wait_ready(session)
            assert await post_ping(session, ingest.url, pulse_ping()) == 202

            await asyncio.to_thread(private_kafka.stop_kafka)
            statuses: list[int] = []
            retry_after: set[str] = set()
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with session.post(
                    ingest.url + "/v1/ping",
                    json=pulse_ping(),
                ) as response:
                    statuses.append(response.status)
                    retry_after.add(response.headers.get("Retry-After", ""))
                    assert response.content_type == "application/json"
                # never hang: the publish deadline (2 s) bounds every answer
                assert time.monotonic() - started < 4
            assert set(statuses) == {503}, statuses
            assert retry_after == {"3"}
            # Still ready: the process answers (JSON 503 with Retry-After), so a load balancer
            # must keep sending it clients; Kafka's state is in the metrics instead.
            assert await ingest.ready_status(session) == 200
            assert await ingest.kafka_connected(session) == 0.0

            await asyncio.to_thread(private_kafka.start_kafka)
            deadline = time.monotonic() + 90
            while await post_ping(session, ingest.url, pulse_ping()) != 202:
                assert time.monotonic() < deadline, "ingest did not recover after Kafka returned"
                await asyncio.sleep(0.5)
            await ingest.wait_ready(session, within_s=30)
            assert [await post_ping(session, ingest.url, pulse_ping()) for _ in range(5)] == [
                202
            ] * 5
        assert await ingest.terminate() == 0
    finally:
        ingest.kill()
