"""`census ingest` against the real Kafka: what arrives on the topic, and SIGTERM under load."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import aiohttp
import pytest

from schemas.record import SCHEMA_VERSION, PingRecord, decode_record
from tests.support.ingest import IngestProcess, encode, post_ping, pulse_ping
from tests.support.kafka import read_all
from tests.support.stack import StackEndpoints


# none is the default; the codecs an operator may choose must reach the broker and back as well.
@pytest.mark.parametrize("compression", ["none", "snappy", "zstd"])
async def test_a_posted_ping_arrives_as_the_exact_record(
    stack_endpoints: StackEndpoints, own_topic: str, compression: str
) -> None:
    topic = own_topic
    ingest = IngestProcess(stack_endpoints.bootstrap, topic, CENSUS_INGEST_COMPRESSION=compression)
    ingest.start()
    try:
        async with aiohttp.ClientSession() as session:
            await ingest.wait_ready(session)
            ping = pulse_ping(hostname="db-01.example.org")
            ping["attrs"]["fqdn"] = "db-01.example.org"
            before = dt.datetime.now(dt.UTC)
            async with session.post(
                ingest.url + "/v1/ping",
                data=encode(ping),
                headers={
                    "Content-Type": "application/json",
                    "X-Forwarded-For": "203.0.113.77",
                    "User-Agent": "pulse-agent/5.1 db-01",
                },
            ) as response:
                assert response.status == 202
                assert await response.json() == {
                    "accepted": 1,
                    "dropped_fields": ["attrs.fqdn"],
                    "reasons": {"attrs.fqdn": "not declared by the pulse catalog"},
                }
            after = dt.datetime.now(dt.UTC)
        assert await ingest.terminate() == 0
    finally:
        ingest.kill()

    ((key, value),) = await read_all(stack_endpoints.bootstrap, topic, expected=1, within_s=20)
    record = decode_record(value)
    assert key == uuid.UUID(ping["install_id"]).bytes
    assert before <= record.received_at <= after
    attrs = {k: v for k, v in ping["attrs"].items() if k != "fqdn"}
    assert record == PingRecord(
        schema=SCHEMA_VERSION,
        received_at=record.received_at,
        product="pulse",
        install_id=uuid.UUID(ping["install_id"]),
        event="heartbeat",
        version=ping["version"],
        platform=ping["platform"],
        os=ping["os"],
        arch=ping["arch"],
        sent_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
        ping_id=uuid.UUID(ping["ping_id"]),
        attrs=attrs,
        counts=ping["counts"],
    )
    for secret in (b"203.0.113.77", b"db-01", b"pulse-agent", b"fqdn", b"hostname"):
        assert secret not in value


async def test_sigterm_under_load_loses_no_acknowledged_ping(
    stack_endpoints: StackEndpoints, topic: str
) -> None:
    ingest = IngestProcess(stack_endpoints.bootstrap, topic)
    ingest.start()
    acknowledged: list[str] = []
    answered: dict[int, int] = {}
    stop_sending = asyncio.Event()
    enough = asyncio.Event()
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, force_close=False)
        ) as session:
            await ingest.wait_ready(session)

            async def client() -> None:
                while not stop_sending.is_set():
                    ping = pulse_ping()
                    status = await post_ping(session, ingest.url, ping)
                    answered[status] = answered.get(status, 0) + 1
                    if status == 202:
                        acknowledged.append(ping["install_id"])
                        if len(acknowledged) >= 300:
                            enough.set()
                    elif status == 0:
                        return  # the listener is gone

            clients = [asyncio.create_task(client()) for _ in range(32)]
            await asyncio.wait_for(enough.wait(), timeout=60)
            code = await ingest.terminate()
            stop_sending.set()
            await asyncio.wait_for(asyncio.gather(*clients), timeout=30)
    finally:
        ingest.kill()

    assert code == 0, ingest.output()
    assert set(answered) <= {0, 202, 503}, answered
    received = await read_all(
        stack_endpoints.bootstrap, topic, expected=len(acknowledged) + 1000, within_s=10
    )
    on_topic = {str(decode_record(value).install_id) for _, value in received}
    missing = set(acknowledged) - on_topic
    assert missing == set(), f"{len(missing)} of {len(acknowledged)} acknowledged pings lost"
    assert len(acknowledged) >= 300
    print(f"answered during the run: {answered}")
