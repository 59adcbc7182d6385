"""PartitionBatcher against a fake producer: order, batch boundaries, acks and failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from services.ingest.batcher import DeadlinePassed, PartitionBatcher


class FakeBuilder:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes, bytes]] = []
        self.closed = False

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        assert not self.closed, "appended to a batch already handed over"
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Hands batches over like aiokafka: one at a time per partition; acks when told to."""

    def __init__(self, capacity: int = 3) -> None:
        self.capacity = capacity
        self.sent: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.refuse: Exception | None = None

    def create_batch(self) -> FakeBuilder:
        return FakeBuilder(self.capacity)

    async def send_batch(self, batch: FakeBuilder, topic: str, *, partition: int) -> Any:
        assert batch.closed and topic == "t"
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((partition, batch.records))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_records_keep_their_order_and_share_a_future_per_batch() -> None:
    producer = FakeProducer(capacity=3)
    batcher = PartitionBatcher(producer, "t", deadline_s=5.0)
    futures = [batcher.append(0, b"k", bytes([i])) for i in range(5)]
    other = batcher.append(1, b"j", b"x")
    await settle()
    assert [(p, [v for _, v in r]) for p, r in producer.sent] == [
        (0, [b"\x00", b"\x01", b"\x02"]),
        (0, [b"\x03", b"\x04"]),
        (1, [b"x"]),
    ]
    assert futures[0] is futures[2] and futures[3] is futures[4] and futures[2] is not futures[3]
    producer.acks[0].set_result(None)
    await settle()
    assert futures[0].acked.done() and not futures[3].acked.done() and not other.acked.done()
    assert futures[0].answer.result() is None and not futures[3].answer.done()
    producer.acks[1].set_exception(KafkaError("broker said no"))
    await settle()
    assert isinstance(futures[3].acked.exception(), KafkaError)
    assert isinstance(futures[3].answer.exception(), KafkaError)
    await batcher.close(1.0)


async def test_a_refused_hand_over_fails_its_records_and_the_next_batch_still_goes() -> None:
    producer = FakeProducer()
    batcher = PartitionBatcher(producer, "t", deadline_s=5.0)
    producer.refuse = KafkaError("timed out waiting for the previous batch")
    first = batcher.append(0, b"k", b"a")
    await settle()
    assert isinstance(first.acked.exception(), KafkaError)
    producer.refuse = None
    second = batcher.append(0, b"k", b"b")
    await settle()
    assert producer.sent == [(0, [(b"k", b"b")])] and not second.acked.done()
    await batcher.close(1.0)


async def test_close_hands_everything_over_and_refuses_more() -> None:
    producer = FakeProducer()
    batcher = PartitionBatcher(producer, "t", deadline_s=5.0)
    batcher.append(2, b"k", b"a")
    await batcher.close(1.0)
    assert producer.sent == [(2, [(b"k", b"a")])]
    with pytest.raises(KafkaError):
        batcher.append(2, b"k", b"b")


async def test_the_answer_comes_by_the_deadline_and_the_ack_still_counts_after_it() -> None:
    producer = FakeProducer()
    batcher = PartitionBatcher(producer, "t", deadline_s=0.05)
    pending = batcher.append(0, b"k", b"a")
    async with asyncio.timeout(2.0):
        with pytest.raises(DeadlinePassed):
            await asyncio.shield(pending.answer)
    assert not pending.acked.done()  # the in-flight budget still holds the record
    producer.acks[0].set_result(None)
    await settle()
    assert pending.acked.result() is None
    assert isinstance(pending.answer.exception(), DeadlinePassed)
    await batcher.close(1.0)


async def test_an_ack_before_the_deadline_answers_at_once() -> None:
    producer = FakeProducer()
    batcher = PartitionBatcher(producer, "t", deadline_s=0.05)
    pending = batcher.append(0, b"k", b"a")
    await settle()
    producer.acks[0].set_result(None)
    await settle()
    assert pending.answer.result() is None
    await asyncio.sleep(0.1)  # past the deadline: the timer was cancelled, nothing changes
    assert pending.answer.result() is None
    await batcher.close(1.0)
