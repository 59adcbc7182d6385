"""The pings topic as the consumer loop sees it: a small Protocol, and aiokafka behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.aggregator.config import AggregatorSettings


class Message(Protocol):
    """One fetched record (aiokafka's ConsumerRecord has these)."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Rebalance(Protocol):
    """What a group rebalance tells the consumer; called from the group coordinator's task."""

    async def revoked(self, partitions: set[int]) -> None: ...
    async def assigned(self, partitions: set[int]) -> None: ...


class PartitionSource(Protocol):
    """The topic's partitions this group member is assigned, and their positions."""

    def subscribe(self, listener: Rebalance) -> None: ...

    async def getmany(self, timeout_s: float, max_records: int) -> dict[int, list[Message]]:
        """Fetched records per partition (none of paused partitions), waiting up to timeout_s."""

    def pause(self, partitions: Iterable[int]) -> None: ...
    def resume(self, partitions: Iterable[int]) -> None: ...

    async def seek(self, partition: int, offset: int | None) -> None:
        """Read `partition` from `offset` next (None: from the oldest record Kafka keeps)."""

    async def partition_count(self) -> int:
        """The topic's partition count, asking a broker (raises when none answers)."""

    async def end_offsets(self, partitions: list[int]) -> dict[int, int]:
        """The offset after the last record of each partition, asking the brokers."""

    async def commit(self, offsets: dict[int, int]) -> None:
        """Mirror stored offsets to Kafka's group offsets (for lag tools only)."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, target: Rebalance) -> None:
        self._target = target

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._target.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._target.assigned({tp.partition for tp in assigned})


class KafkaSource:
    """A PartitionSource on an AIOKafkaConsumer in the aggregator's group; `async with` it."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self._topic = settings.kafka.topic
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=settings.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            # The group leader notices added partitions at this age of its metadata (and the
            # loop then refuses them): half a minute rather than the default five.
            metadata_max_age_ms=30_000,
        )

    def _tps(self, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self._topic, p) for p in partitions]

    def subscribe(self, listener: Rebalance) -> None:
        self._consumer.subscribe([self._topic], listener=_Listener(listener))

    async def getmany(self, timeout_s: float, max_records: int) -> dict[int, list[Message]]:
        data: dict[Any, list[Message]] = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        return {tp.partition: messages for tp, messages in data.items()}

    def pause(self, partitions: Iterable[int]) -> None:
        tps = [tp for tp in self._tps(partitions) if tp in self._consumer.assignment()]
        if tps:
            self._consumer.pause(*tps)

    def resume(self, partitions: Iterable[int]) -> None:
        tps = [tp for tp in self._tps(partitions) if tp in self._consumer.assignment()]
        if tps:
            self._consumer.resume(*tps)

    async def seek(self, partition: int, offset: int | None) -> None:
        tp = TopicPartition(self._topic, partition)
        if offset is None:
            await self._consumer.seek_to_beginning(tp)
        else:
            self._consumer.seek(tp, offset)

    async def partition_count(self) -> int:
        await self._consumer.topics()  # a metadata round trip: raises when no broker answers
        partitions = self._consumer.partitions_for_topic(self._topic)
        if not partitions:
            raise LookupError(f"topic {self._topic} has no partitions in Kafka's metadata")
        return len(partitions)

    async def end_offsets(self, partitions: list[int]) -> dict[int, int]:
        if not partitions:
            return {}
        ends: dict[Any, int] = await self._consumer.end_offsets(self._tps(partitions))
        return {tp.partition: offset for tp, offset in ends.items()}

    async def commit(self, offsets: dict[int, int]) -> None:
        assigned = self._consumer.assignment()
        mine = {
            tp: o
            for tp, o in ((TopicPartition(self._topic, p), o) for p, o in offsets.items())
            if tp in assigned
        }
        if mine:
            await self._consumer.commit(mine)

    async def __aenter__(self) -> KafkaSource:
        await self._consumer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.wait_for(self._consumer.stop(), timeout=30)
