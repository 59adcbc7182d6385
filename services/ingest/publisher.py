"""Publishing records to Kafka behind a small Protocol; 'published' means the broker acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.record import PingRecord, encode_record, record_key
from services.common.topics import TopicSpec, ensure_topics
from services.ingest.batcher import DeadlinePassed, PartitionBatcher, ProducerSink, SharedAnswer
from services.ingest.config import IngestSettings
from services.ingest.partition import partition_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishUnavailable(Exception):
    """Nothing of the request is acknowledged: Kafka is unreachable or the in-flight budget is
    full. Retryable: the client should try again after a while."""

    reason: str

    def __str__(self) -> str:
        return self.reason


class Publisher(Protocol):
    """Where accepted pings go. `publish` returns only once every record is acknowledged."""

    async def publish(self, records: Sequence[PingRecord], timeout_s: float) -> None:
        """Raises PublishUnavailable if not every record is acknowledged within `timeout_s`."""
        ...

    def readiness(self) -> str | None:
        """None when Kafka is reachable, else a short reason; feeds census_ingest_kafka_connected,
        not /readyz (ingest stays ready and answers 503 itself)."""
        ...

    @property
    def inflight(self) -> int:
        """Records handed over and not yet acknowledged (or failed)."""
        ...


_COMPRESSION = {"none": None}


class KafkaPublisher:
    """An idempotent, acks=all aiokafka producer with a bounded in-flight budget.

    It connects (and creates the topic) in the background, so the service starts and answers 503
    while Kafka is away, and probes the broker so the fast 503 path and the
    census_ingest_kafka_connected gauge follow Kafka's state. aiokafka reconnects by itself when
    the broker returns.
    """

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._topic = settings.kafka.topic
        self._producer: Any = None
        self._healthy = False
        self._reason = "connecting to Kafka"
        self._inflight = 0
        self._task: asyncio.Task[None] | None = None
        self._batcher: PartitionBatcher | None = None
        self._closed = False
        self._partitions: list[int] = []

    @property
    def inflight(self) -> int:
        return self._inflight

    def readiness(self) -> str | None:
        return None if self._healthy else self._reason

    def _new_producer(self) -> Any:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=s.kafka.bootstrap,
            client_id="census-ingest",
            acks="all",
            enable_idempotence=True,
            compression_type=_COMPRESSION.get(s.compression, s.compression),
            max_batch_size=s.kafka_batch_bytes,
            request_timeout_ms=int(s.kafka_request_timeout_s * 1000),
        )

    async def _connect(self) -> Any:
        kafka = self._settings.kafka
        spec = TopicSpec(
            kafka.topic, kafka.partitions, kafka.retention_ms, kafka.replication_factor
        )
        delay = 0.5
        while True:
            producer = None
            try:
                await ensure_topics(kafka.bootstrap, [spec], timeout_s=10.0)
                producer = self._new_producer()
                await producer.start()
                await asyncio.wait_for(producer.partitions_for(self._topic), timeout=10.0)
                return producer
            except (KafkaError, OSError, TimeoutError) as exc:
                self._reason = f"Kafka unreachable: {type(exc).__name__}"
                log.warning("Kafka at %s not reachable yet (%s); retrying", kafka.bootstrap, exc)
                if producer is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), timeout=5.0)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _probe(self) -> None:
        """Is the broker there? Metadata from any broker says so."""
        try:
            await asyncio.wait_for(
                self._producer.client.fetch_all_metadata(), timeout=self._settings.kafka_probe_s
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            if self._healthy:
                log.warning("Kafka unreachable (%s); answering 503", type(exc).__name__)
            self._healthy = False
            self._reason = f"Kafka unreachable: {type(exc).__name__}"
            return
        if not self._healthy:
            log.info("Kafka connected at %s, topic %s", self._settings.kafka.bootstrap, self._topic)
        self._healthy = True

    async def _run(self) -> None:
        self._producer = await self._connect()
        cluster = self._producer.client.cluster
        self._on_metadata(cluster)
        cluster.add_listener(self._on_metadata)
        self._batcher = PartitionBatcher(
            ProducerSink(self._producer, self._topic),
            deadline_s=self._settings.publish_timeout_s,
            released=self._release,
        )
        while True:
            await self._probe()
            await asyncio.sleep(self._settings.kafka_probe_s)

    def _on_metadata(self, cluster: Any) -> None:
        """The topic's partitions, sorted, read once per metadata update, not per request."""
        known = cluster.partitions_for_topic(self._topic)
        self._partitions = sorted(known) if known else []

    def _release(self, records: int) -> None:
        self._inflight -= records

    async def publish(self, records: Sequence[PingRecord], timeout_s: float) -> None:
        """`timeout_s` is the batcher's deadline (settings.publish_timeout_s), one per batch."""
        batcher = self._batcher
        if not self._healthy or self._producer is None or batcher is None:
            raise PublishUnavailable(self._reason)
        count = len(records)
        if self._inflight + count > self._settings.inflight_max:
            raise PublishUnavailable("too many pings waiting for Kafka")
        # Partitions chosen as the producer's partitioner would (services.ingest.partition).
        partitions = self._partitions
        if not partitions:
            raise PublishUnavailable("no metadata for the topic yet")
        # The budget holds every record appended until its batch's outcome (`_release`).
        answers: dict[SharedAnswer, None] = {}
        try:
            for record in records:
                key = record_key(record)
                pending = batcher.append(partition_for(key, partitions), key, encode_record(record))
                self._inflight += 1
                answers[pending.answer] = None
        except KafkaError as exc:
            raise PublishUnavailable(f"Kafka refused the records: {type(exc).__name__}") from None
        # Awaited directly: a SharedAnswer refuses the cancellation of one waiter.
        if len(answers) == 1:
            (answer,) = answers
            try:
                await answer
            except Exception:  # read below, as for several answers
                pass
        else:
            await asyncio.wait(answers)
        for answer in answers:
            error = answer.exception()
            if isinstance(error, DeadlinePassed):
                raise PublishUnavailable("Kafka did not acknowledge within the publish deadline")
            if error is not None:
                raise PublishUnavailable(f"Kafka did not acknowledge: {type(error).__name__}")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kafka-publisher")

    async def close(self, timeout_s: float = 15.0) -> None:
        """Flush what was handed over, then stop; idempotent and bounded by `timeout_s`."""
        if self._closed:
            return
        self._closed = True
        self._healthy = False
        self._reason = "shutting down"
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        producer, self._producer = self._producer, None
        batcher, self._batcher = self._batcher, None
        if batcher is not None:  # hand what requests appended to the producer, then flush it
            await batcher.close(timeout_s / 2)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=timeout_s / 2)
            except TimeoutError:
                log.error("Kafka producer did not flush within %.1f s", timeout_s)

    async def __aenter__(self) -> KafkaPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The other half of the shutdown budget went to answering in-flight requests.
        await self.close(self._settings.shutdown_timeout_s / 2)
