"""A batch reaches Kafka whole: every ping once, each install's pings in one partition and in the
order they were sent."""

from __future__ import annotations

import uuid
from collections import defaultdict

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.record import decode_record
from tests.support.ingest import IngestProcess, encode, pulse_ping
from tests.support.stack import StackEndpoints


async def read_by_partition(bootstrap: str, topic: str, expected: int) -> dict[int, list[bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        assert len(partitions) == 3  # the `topic` fixture's
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        out: dict[int, list[bytes]] = defaultdict(list)
        for _ in range(100):
            if sum(map(len, out.values())) >= expected:
                break
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                out[tp.partition].extend(r.value for r in records)
        return out
    finally:
        await consumer.stop()


async def test_a_batch_lands_once_per_ping_grouped_by_install(
    stack_endpoints: StackEndpoints, topic: str
) -> None:
    installs = [str(uuid.uuid4()) for _ in range(7)]
    pings = [pulse_ping(install_id=installs[i % 7], version=f"5.{i}.0") for i in range(140)]
    ingest = IngestProcess(stack_endpoints.bootstrap, topic)
    ingest.start()
    try:
        async with aiohttp.ClientSession() as session:
            await ingest.wait_ready(session)
            async with session.post(
                ingest.url + "/v1/batch",
                data=encode(pings),
                headers={"Content-Type": "application/json"},
            ) as response:
                assert response.status == 202
                assert (await response.json())["accepted"] == 140
        assert await ingest.terminate() == 0
    finally:
        ingest.kill()

    by_partition = await read_by_partition(stack_endpoints.bootstrap, topic, expected=140)
    seen: dict[str, tuple[int, list[str]]] = {}
    for partition, values in by_partition.items():
        for value in values:
            record = decode_record(value)
            install = str(record.install_id)
            owner, versions = seen.setdefault(install, (partition, []))
            assert owner == partition, "one install's pings were split over partitions"
            versions.append(record.version)
    assert sum(len(v) for _, v in seen.values()) == 140
    for index, install in enumerate(installs):
        assert seen[install][1] == [f"5.{i}.0" for i in range(index, 140, 7)]
