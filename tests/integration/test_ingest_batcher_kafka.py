"""The batcher's ProducerSink against the real broker: aiokafka's queue taken without
`send_batch`, so a change in aiokafka's internals shows here, not in production."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.ingest.batcher import PartitionBatcher, ProducerSink
from tests.support.kafka import read_all
from tests.support.stack import StackEndpoints


async def test_every_record_arrives_in_order_per_partition_and_a_stopped_producer_refuses(
    stack_endpoints: StackEndpoints, topic: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_endpoints.bootstrap,
        acks="all",
        enable_idempotence=True,
        max_batch_size=4096,  # small: several batches per partition queue up behind each other
    )
    await producer.start()
    try:
        await producer.partitions_for(topic)
        batcher = PartitionBatcher(ProducerSink(producer, topic), deadline_s=30.0)
        sent: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
        pendings = []
        for i in range(600):  # three rounds of appends between loop iterations
            partition = i % 3
            value = f"{partition}:{i:04d}:".encode() + b"x" * 40
            sent[partition].append(value)
            pendings.append(batcher.append(partition, b"k%d" % partition, value))
            if i % 200 == 199:
                await asyncio.sleep(0)
        assert len({id(p) for p in pendings}) > 3, "expected several batches per partition"
        async with asyncio.timeout(30):
            await asyncio.gather(*(p.answer for p in pendings))
        await batcher.close(5.0)
    finally:
        await producer.stop()

    records = await read_all(stack_endpoints.bootstrap, topic, expected=600, within_s=30)
    received: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for _key, value in records:
        received[int(value[:1])].append(value)
    assert received == sent  # all of them, each partition in the order appended

    with pytest.raises(KafkaError):
        ProducerSink(producer, topic).enqueue(producer.create_batch(), 0)
