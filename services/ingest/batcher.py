"""Records of concurrent requests gathered into one Kafka record batch per partition.

aiokafka's `send()` costs a future, a partitioner call, an accumulator append and a metadata
object per record, about half of ingest's time on a batch request. Here records are appended
straight to an open record batch of their partition, and everything appended to one batch shares
one future.

Each partition has at most one batch with the producer at a time. The next one fills while the
broker answers for the previous, and is handed over the moment that answer comes, so batches grow
with the load as with a linger, without waiting when idle. The hand-over is a plain call, not a
task per partition waiting in `send_batch` for aiokafka's queue to drain: that wait (a task
wake-up, an `asyncio.wait` with its timer, a shield) per batch was about a fifth of a /v1/ping
request, whose batches hold one or two records each.

The publish deadline is kept here too, one timer per batch: `answer` resolves when the broker
acknowledged, failed, or at the latest `deadline_s` after the batch opened. Every request in the
batch joined it after it opened, so none waits longer than its deadline; a scope per request
(`asyncio.timeout`, two timers and a heap entry each) was about 4 % of a /v1/ping request.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka.errors import KafkaError, ProducerClosed
from aiokafka.structs import TopicPartition


class DeadlinePassed(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """The broker did not acknowledge within the publish deadline (it still may, later)."""


class RecordTooLarge(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """A record that not even an empty batch takes. aiokafka's builder always takes a batch's
    first record (a record over the broker's limit is refused by the broker instead), so with
    ProducerSink this only keeps a sink that can refuse one from leaving a batch behind."""

    def __init__(self, size: int) -> None:
        super().__init__(f"a {size}-byte record is larger than CENSUS_INGEST_KAFKA_BATCH_BYTES")
        self.size = size


class BatchSink(Protocol):
    """Where sealed record batches go: the producer's queue, one call per batch."""

    def create_batch(self) -> Any:
        """An empty record batch builder (`append(key=, value=, timestamp=)`, `close()`)."""
        ...

    def enqueue(self, builder: Any, partition: int) -> asyncio.Future[Any]:
        """Queue a closed batch for sending; the future is the broker's answer. Raises
        KafkaError if the producer takes nothing more."""
        ...


class ProducerSink:
    """aiokafka's producer as a BatchSink: `send_batch` without its wait for the partition's
    queue, which never applies here (a partition's next batch comes only after the previous
    one's answer). It calls the accumulator as `send_batch` does; aiokafka is pinned by the lock
    and tests/integration/test_ingest_batcher_kafka.py runs this against a real broker."""

    def __init__(self, producer: Any, topic: str) -> None:
        self._producer = producer
        self._accumulator = producer._message_accumulator
        self._partitions: dict[int, TopicPartition] = {}
        self._topic = topic

    def create_batch(self) -> Any:
        return self._producer.create_batch()

    def enqueue(self, builder: Any, partition: int) -> asyncio.Future[Any]:
        accumulator = self._accumulator
        if accumulator._closed:
            raise ProducerClosed()
        if accumulator._exception is not None:
            raise copy.copy(accumulator._exception)
        tp = self._partitions.get(partition)
        if tp is None:
            tp = self._partitions[partition] = TopicPartition(self._topic, partition)
        future: asyncio.Future[Any] = accumulator._append_batch(builder, tp).future
        return future


class SharedAnswer(asyncio.Future[None]):
    """A future that every request of a batch awaits directly. One waiter's cancellation must
    not cancel it for the others; `asyncio.shield` gave that at a future and two callbacks per
    request, here it is refused once: a cancelled waiter's CancelledError comes when the answer
    does, by the publish deadline at the latest."""

    def cancel(self, msg: Any = None) -> bool:
        return False


@dataclass(slots=True, eq=False)
class Pending:
    """A record batch: `acked` is the broker's outcome (the in-flight budget follows it);
    `answer` is what requests wait on (that outcome, or DeadlinePassed, whichever comes first)."""

    builder: Any
    acked: asyncio.Future[None]
    answer: SharedAnswer
    sealed: bool = False
    records: int = 0


def _answer(
    pending: Pending, timer: asyncio.TimerHandle, released: Callable[[int], None]
) -> Callable[[asyncio.Future[None]], None]:
    def on_acked(acked: asyncio.Future[None]) -> None:
        timer.cancel()
        released(pending.records)
        error = None if acked.cancelled() else acked.exception()  # retrieved, whoever waits
        if pending.answer.done():
            return
        if acked.cancelled():
            pending.answer.set_exception(KafkaError("the producer dropped the batch"))
        elif error is not None:
            pending.answer.set_exception(error)
        else:
            pending.answer.set_result(None)

    return on_acked


def _nothing(_records: int) -> None:
    pass


def _expire(answer: SharedAnswer) -> None:
    if not answer.done():
        answer.set_exception(DeadlinePassed())


def _settle(ours: asyncio.Future[None], theirs: asyncio.Future[Any]) -> None:
    if ours.done():
        return
    if theirs.cancelled():
        ours.set_exception(KafkaError("the producer dropped the batch"))
    elif (error := theirs.exception()) is not None:
        ours.set_exception(error)
    else:
        ours.set_result(None)


@dataclass(slots=True)
class _Partition:
    queue: deque[Pending] = field(default_factory=deque)  # waiting; the last one is open
    sent: Pending | None = None  # with the producer, not answered yet
    scheduled: bool = False  # a hand-over is due on the next loop iteration


class PartitionBatcher:
    """Appends records to per-partition batches handed to `sink`, one per partition at a time."""

    def __init__(
        self,
        sink: BatchSink,
        *,
        deadline_s: float,
        released: Callable[[int], None] = _nothing,
    ) -> None:
        """`released(n)`: a batch of n records got its outcome (the in-flight budget)."""
        self._sink = sink
        self._deadline_s = deadline_s
        self._released = released
        self._partitions: dict[int, _Partition] = {}
        self._closing = False

    def append(self, partition: int, key: bytes, value: bytes) -> Pending:
        """Add a record to its partition's open batch (opening one if needed)."""
        if self._closing:
            raise KafkaError("the publisher is shutting down")
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        batch = state.queue[-1] if state.queue else None
        if (
            batch is None
            or batch.sealed
            or batch.builder.append(key=key, value=value, timestamp=None) is None
        ):
            builder = self._sink.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                # Refused before anything exists for it: no timer or future is left behind, and
                # the open batch stays open for the records that do fit.
                raise RecordTooLarge(len(key) + len(value))
            if batch is not None:
                batch.sealed = True  # full: the next record starts a new batch
            batch = self._open(builder)
            state.queue.append(batch)
        batch.records += 1
        if state.sent is None and not state.scheduled:
            # On the next iteration, so that the records of requests read in this one join.
            state.scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over, partition, state)
        return batch

    def _open(self, builder: Any) -> Pending:
        """A batch around `builder`, which holds its first record; its deadline starts now."""
        loop = asyncio.get_running_loop()
        pending = Pending(builder, loop.create_future(), SharedAnswer(loop=loop))
        timer = loop.call_later(self._deadline_s, _expire, pending.answer)
        pending.acked.add_done_callback(_answer(pending, timer, self._released))
        return pending

    def _hand_over(self, partition: int, state: _Partition) -> None:
        """Give the partition's oldest batch to the producer, unless it holds one already."""
        state.scheduled = False
        while state.sent is None and state.queue:
            batch = state.queue.popleft()
            batch.sealed = True
            batch.builder.close()
            try:
                answer = self._sink.enqueue(batch.builder, partition)
            except Exception as exc:
                if not batch.acked.done():
                    batch.acked.set_exception(exc)
                continue  # this batch failed; the next one may still go
            state.sent = batch
            answer.add_done_callback(functools.partial(self._answered, partition, batch))

    def _answered(self, partition: int, batch: Pending, theirs: asyncio.Future[Any]) -> None:
        _settle(batch.acked, theirs)
        state = self._partitions[partition]
        state.sent = None
        self._hand_over(partition, state)

    async def close(self, timeout_s: float) -> None:
        """Hand every batch over and wait for the answers (within `timeout_s`); later appends
        are refused, and what is still waiting then fails."""
        self._closing = True
        outcomes = [
            batch.acked
            for state in self._partitions.values()
            for batch in (*state.queue, *([state.sent] if state.sent else []))
        ]
        if outcomes:  # each answer hands the partition's next batch over
            await asyncio.wait(outcomes, timeout=timeout_s)
        for state in self._partitions.values():
            for batch in state.queue:
                if not batch.acked.done():
                    batch.acked.set_exception(KafkaError("the publisher stopped"))
            state.queue.clear()
