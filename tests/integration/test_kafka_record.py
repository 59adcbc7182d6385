"""A PingRecord round trip through the real broker."""

from __future__ import annotations

import datetime as dt
import uuid

from aiokafka import AIOKafkaProducer

from schemas.record import SCHEMA_VERSION, PingRecord, decode_record, encode_record, record_key
from tests.support.kafka import read_all
from tests.support.stack import StackEndpoints


async def test_ping_record_round_trips_through_kafka(
    stack_endpoints: StackEndpoints, topic: str
) -> None:
    records = [
        PingRecord(
            schema=SCHEMA_VERSION,
            received_at=dt.datetime.now(dt.UTC),
            product="pulse",
            install_id=uuid.uuid4(),
            event="heartbeat",
            version=f"5.{i}.0",
            platform="docker",
            os="linux",
            arch="amd64",
            ping_id=uuid.uuid4(),
            attrs={"ai_enabled": i % 2 == 0},
            counts={"vms": i},
        )
        for i in range(20)
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_endpoints.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, encode_record(record), key=record_key(record))
    finally:
        await producer.stop()

    received = await read_all(stack_endpoints.bootstrap, topic, expected=len(records))
    decoded = {
        decode_record(value).install_id: (key, decode_record(value)) for key, value in received
    }
    assert len(received) == len(records)
    for record in records:
        key, back = decoded[record.install_id]
        assert back == record
        assert key == record.install_id.bytes
