"""Records of concurrent requests gathered into one Kafka record batch per partition.

aiokafka's `send()` costs a future, a partitioner call, an accumulator append and a metadata
object per record, about half of ingest's time on a batch request. Here records are appended
straight to an open record batch of their partition, and everything appended to one batch shares
one future. A partition's batch is handed to the producer as soon as the producer takes it
(`send_batch` waits while the partition's previous batch is still queued); what arrives meanwhile
fills the next one, so batches grow with the load as with a linger, without waiting when idle.

The publish deadline is kept here too, one timer per batch: `answer` resolves when the broker
acknowledged, failed, or at the latest `deadline_s` after the batch opened. Every request in the
batch joined it after it opened, so none waits longer than its deadline; a scope per request
(`asyncio.timeout`, two timers and a heap entry each) was about 4 % of a /v1/ping request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError


class DeadlinePassed(KafkaError):  # type: ignore[misc]  # aiokafka is untyped
    """The broker did not acknowledge within the publish deadline (it still may, later)."""


@dataclass(slots=True, eq=False)
class Pending:
    """An open record batch: `acked` is the broker's outcome (the in-flight budget follows it);
    `answer` is what requests wait on (that outcome, or DeadlinePassed, whichever comes first)."""

    builder: Any
    acked: asyncio.Future[None]
    answer: asyncio.Future[None]
    sealed: bool = False
    records: int = 0


def _answer(pending: Pending, timer: asyncio.TimerHandle) -> Callable[[asyncio.Future[None]], None]:
    def on_acked(acked: asyncio.Future[None]) -> None:
        timer.cancel()
        if pending.answer.done():
            return
        if acked.cancelled():
            pending.answer.set_exception(KafkaError("the producer dropped the batch"))
        elif (error := acked.exception()) is not None:
            pending.answer.set_exception(error)
        else:
            pending.answer.set_result(None)

    return on_acked


def _expire(answer: asyncio.Future[None]) -> None:
    if not answer.done():
        answer.set_exception(DeadlinePassed())


@dataclass(slots=True)
class _Partition:
    queue: deque[Pending] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def _settle(ours: asyncio.Future[None], theirs: asyncio.Future[Any]) -> None:
    if ours.done():
        return
    if theirs.cancelled():
        ours.set_exception(KafkaError("the producer dropped the batch"))
    elif (error := theirs.exception()) is not None:
        ours.set_exception(error)
    else:
        ours.set_result(None)


class PartitionBatcher:
    """Appends records to per-partition batches of `producer` for `topic`; `async with`."""

    def __init__(self, producer: Any, topic: str, *, deadline_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._deadline_s = deadline_s
        self._partitions: dict[int, _Partition] = {}
        self._closing = False

    def append(self, partition: int, key: bytes, value: bytes) -> Pending:
        """Add a record to its partition's open batch (opening one if needed)."""
        if self._closing:
            raise KafkaError("the publisher is shutting down")
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
            state.task = asyncio.create_task(self._hand_over(partition, state))
        batch = state.queue[-1] if state.queue else None
        if (
            batch is None
            or batch.sealed
            or batch.builder.append(key=key, value=value, timestamp=None) is None
        ):
            if batch is not None:
                batch.sealed = True  # full: the next record starts a new batch
            batch = self._open()
            if batch.builder.append(key=key, value=value, timestamp=None) is None:
                raise KafkaError("a record larger than CENSUS_INGEST_KAFKA_BATCH_BYTES")
            state.queue.append(batch)
        batch.records += 1
        state.wake.set()
        return batch

    def _open(self) -> Pending:
        loop = asyncio.get_running_loop()
        pending = Pending(self._producer.create_batch(), loop.create_future(), loop.create_future())
        timer = loop.call_later(self._deadline_s, _expire, pending.answer)
        pending.acked.add_done_callback(_answer(pending, timer))
        return pending

    async def _hand_over(self, partition: int, state: _Partition) -> None:
        """Give the partition's batches to the producer, oldest first, one at a time."""
        while True:
            if not state.queue:
                if self._closing:
                    return
                state.wake.clear()
                await state.wake.wait()
                continue
            batch = state.queue[0]
            batch.sealed = True
            batch.builder.close()
            state.queue.popleft()
            try:
                sent = await self._producer.send_batch(
                    batch.builder, self._topic, partition=partition
                )
            except asyncio.CancelledError:
                if not batch.acked.done():
                    batch.acked.set_exception(KafkaError("the publisher stopped"))
                raise
            except Exception as exc:
                if not batch.acked.done():
                    batch.acked.set_exception(exc)
                continue
            sent.add_done_callback(lambda theirs, ours=batch.acked: _settle(ours, theirs))

    async def close(self, timeout_s: float) -> None:
        """Hand every batch over (within `timeout_s`), then stop; later appends are refused."""
        self._closing = True
        tasks = [s.task for s in self._partitions.values() if s.task is not None]
        for state in self._partitions.values():
            state.wake.set()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for state in self._partitions.values():
            for batch in state.queue:
                if not batch.acked.done():
                    batch.acked.set_exception(KafkaError("the publisher stopped"))
            state.queue.clear()
