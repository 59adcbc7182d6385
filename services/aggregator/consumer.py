"""The consume loop: fetch, decode, batch, flush exactly once; seek to PostgreSQL's offsets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from schemas.catalog import Catalogs
from services.aggregator.batch import Batch, DeadLetter
from services.aggregator.config import AggregatorSettings
from services.aggregator.decode import Unusable, decode
from services.aggregator.flush import write_flush
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.store import FencedError, OffsetClaim, RollupStore, StoreError

log = logging.getLogger(__name__)

DLQ_REASON_HEADER = "census-dlq-reason"
DLQ_SOURCE_HEADER = "census-dlq-source"
SHUTDOWN_FLUSH_S = 30.0
REVOKE_WAIT_S = 10.0


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: Aggregator) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner.assigned({tp.partition for tp in assigned})


class Aggregator:
    """Consumes the pings topic as one member of the group and keeps the rollups exact."""

    def __init__(
        self,
        settings: AggregatorSettings,
        store: RollupStore,
        catalogs: Catalogs,
        metrics: AggregatorMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._topic = settings.kafka.topic
        self._group = settings.group
        self._store = store
        self._catalogs = catalogs
        self._metrics = metrics
        self._clock = clock
        self._batch = Batch()
        self._lock = asyncio.Lock()
        self._assigned: set[int] = set()
        self._pending: set[int] = set()
        self._stored: dict[int, int | None] = {}
        self._position: dict[int, int] = {}
        self._joined = False
        self._store_ok = False
        self._backing_off = False
        self._inflight: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    # readiness -----------------------------------------------------------------------------

    def readiness(self) -> str | None:
        if not self._joined:
            return "not yet assigned partitions"
        if not self._store_ok:
            return "PostgreSQL unreachable"
        if self._backing_off:
            return "retrying a flush"
        return None

    # rebalance callbacks -------------------------------------------------------------------

    async def revoked(self, partitions: set[int]) -> None:
        """Flush what we have before the partitions move; what fails is left to the new owner."""
        # The loop may hand off one more batch while we wait: settle until nothing is in flight.
        while self._inflight is not None:
            if not await self._settle_inflight(REVOKE_WAIT_S, poll=False):
                log.warning("a flush was still retrying at revocation; its records are replayed")
        try:
            await self._flush_once(self._take_batch())
        except StoreError as exc:
            log.warning("flush before revocation failed (%s); its records will be replayed", exc)
            self._reseek_all()
        self._assigned -= partitions
        self._pending -= partitions
        for p in partitions:
            self._stored.pop(p, None)
            self._position.pop(p, None)
            try:
                self._metrics.lag.remove(str(p))
            except KeyError:
                pass

    def assigned(self, partitions: set[int]) -> None:
        """New partitions stay paused until they are sought to the offsets in PostgreSQL."""
        self._joined = True
        fresh = partitions - self._assigned
        self._assigned |= partitions
        self._pending |= fresh
        if self._consumer is not None and fresh:
            self._consumer.pause(*[TopicPartition(self._topic, p) for p in fresh])
        log.info("assigned partitions %s", sorted(partitions))

    async def _seek_pending(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        async with self._lock:  # one connection: never beside a flush in flight
            stored = await self._store.stored_offsets(self._group, self._topic)
        pending = sorted(self._pending & self._assigned)
        for p in pending:
            tp = TopicPartition(self._topic, p)
            if p in stored:
                consumer.seek(tp, stored[p])
                self._stored[p] = stored[p]
                self._position[p] = stored[p]
            else:
                await consumer.seek_to_beginning(tp)
                self._stored[p] = None
                self._position.pop(p, None)
        self._pending -= set(pending)
        consumer.resume(*[TopicPartition(self._topic, p) for p in pending])
        if pending:
            log.info("resumed partitions %s at %s", pending, {p: self._stored[p] for p in pending})

    # records -------------------------------------------------------------------------------

    def _take(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if partition in self._pending or partition not in self._assigned:
            return  # fetched before a seek: the seek position decides what we read
        expected = self._position.get(partition)
        if expected is not None and offset < expected:
            return  # already counted (a replay below the stored offset)
        self._position[partition] = offset + 1
        now = self._clock()
        self._metrics.records_consumed.inc()
        try:
            record = decode(value, self._catalogs)
        except Unusable as exc:
            self._batch.add_dead(DeadLetter(partition, offset, value, key, exc.reason), now)
            return
        self._batch.add(partition, offset, record, now)

    async def _send_dead(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        producer = self._producer
        assert producer is not None
        try:
            futures = [
                await producer.send(
                    self._settings.kafka.dlq_topic,
                    value=letter.value,
                    key=letter.key,
                    headers=[
                        (DLQ_REASON_HEADER, letter.reason.encode()),
                        (
                            DLQ_SOURCE_HEADER,
                            f"{self._topic}/{letter.partition}/{letter.offset}".encode(),
                        ),
                    ],
                )
                for letter in letters
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise StoreError(f"dead-letter topic: {exc}", retryable=True) from exc
        for letter in letters:
            self._metrics.dlq_records.labels(reason=letter.reason).inc()
        log.warning("sent %d record(s) to %s", len(letters), self._settings.kafka.dlq_topic)

    # flushing ------------------------------------------------------------------------------

    def _take_batch(self) -> Batch:
        batch, self._batch = self._batch, Batch()
        return batch

    def _reseek_all(self) -> None:
        """Forget what is in memory and read every partition again from the stored offsets."""
        self._batch = Batch()
        self._pending |= self._assigned
        self._pause_all()

    async def _flush_once(self, batch: Batch) -> None:
        """Write one batch; on success its offsets become the stored ones."""
        async with self._lock:
            if batch.empty:
                return
            await self._send_dead(batch.dead)
            batch.dead = []
            claims = [
                OffsetClaim(p, self._stored.get(p), o)
                for p, o in sorted(batch.next_offsets.items())
            ]
            started = time.perf_counter()
            try:
                result = await write_flush(
                    self._store,
                    self._catalogs,
                    group=self._group,
                    topic=self._topic,
                    claims=claims,
                    records=batch.all_records(),
                    horizons=self._settings.horizons,
                )
            except FencedError as exc:
                log.warning("%s: dropping what is in memory and seeking again", exc)
                self._reseek_all()
                return
            self._store_ok = True
            for claim in claims:
                if claim.partition in self._assigned:
                    self._stored[claim.partition] = claim.next_offset
            self._metrics.flush_latency.observe(time.perf_counter() - started)
            self._metrics.batch_size.observe(batch.size)
            self._metrics.rows_written.inc(result.rows_written)
            self._metrics.duplicates.inc(result.duplicates)
            self._metrics.flushed(result.over_cap, result.events_only, result.too_old)
            self._metrics.last_flush.set(time.time())
            await self._commit_kafka(claims)

    async def _commit_kafka(self, claims: list[OffsetClaim]) -> None:
        """Mirror the stored offsets to Kafka for lag tools; PostgreSQL stays the truth."""
        if self._consumer is None:
            return
        offsets: dict[Any, int] = {
            TopicPartition(self._topic, c.partition): c.next_offset
            for c in claims
            if c.partition in self._assigned
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.info("could not mirror offsets to Kafka: %s", exc)

    async def _flush(self, batch: Batch, *, deadline: float | None = None) -> None:
        """Flush `batch`, retrying with back-off while fetching is paused; never skips a record.

        Runs as a task while the loop fills the next batch, so PostgreSQL and decoding overlap.
        """
        delay = 0.2
        while True:
            try:
                await self._flush_once(batch)
            except StoreError as exc:
                self._metrics.flush_errors.inc()
                if not exc.retryable:
                    log.error("flush failed and cannot be retried: %s", exc)
                    raise
                self._store_ok = False
                self._backing_off = True
                log.warning("flush failed, retrying in %.1f s: %s", delay, exc)
                self._pause_all()
                if deadline is not None and time.monotonic() + delay > deadline:
                    log.error("giving up the last flush; its records will be replayed")
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_s)
                continue
            if self._backing_off:
                self._backing_off = False
                self._resume_ready()
                log.info("flushing again")
            return

    async def _hand_off(self) -> None:
        """Start flushing the current batch once the previous flush has committed."""
        await self._settle_inflight(None)
        self._inflight = asyncio.create_task(self._flush(self._take_batch()))

    async def _settle_inflight(self, within_s: float | None, *, poll: bool = True) -> bool:
        """Wait for the flush in flight, staying a live group member meanwhile.

        With a time limit, a flush still retrying then is cancelled and everything in memory is
        read again from the stored offsets; returns False in that case.
        """
        task = self._inflight
        if task is None:
            return True
        started = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            if task.done():
                break
            if within_s is not None and time.monotonic() - started > within_s:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                self._inflight = None
                self._reseek_all()
                return False
            if poll and self._consumer is not None:
                await self._idle(0)
        self._inflight = None
        exc = task.exception()
        if exc is not None:  # a flush that cannot be retried ends the service
            self._fatal = exc
            self._reseek_all()
        return True

    def _pause_all(self) -> None:
        if self._consumer is not None and self._assigned:
            self._consumer.pause(*[TopicPartition(self._topic, p) for p in self._assigned])

    def _resume_ready(self) -> None:
        ready = self._assigned - self._pending
        if self._consumer is not None and ready:
            self._consumer.resume(*[TopicPartition(self._topic, p) for p in ready])

    async def _idle(self, seconds: float) -> None:
        """Wait while staying a live group member (paused partitions return no records)."""
        consumer = self._consumer
        assert consumer is not None
        room = max(1, self._settings.batch_records - self._batch.size)
        data = await consumer.getmany(timeout_ms=int(seconds * 1000), max_records=room)
        for tp, messages in data.items():
            for m in messages:
                self._take(tp.partition, m.offset, m.key, m.value)

    def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for p in self._assigned:
            end = consumer.highwater(TopicPartition(self._topic, p))
            stored = self._stored.get(p)
            if end is not None:
                self._metrics.lag.labels(partition=str(p)).set(max(0, end - (stored or 0)))

    # the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self._settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka.bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka.bootstrap, acks="all", enable_idempotence=True
        )
        await self._producer.start()
        try:
            await self._consumer.start()
            try:
                self._consumer.subscribe([self._topic], listener=_Listener(self))
                await self._loop(stop)
                await self._settle_inflight(None)
                if self._fatal is not None:
                    raise self._fatal
                await self._flush(self._take_batch(), deadline=time.monotonic() + SHUTDOWN_FLUSH_S)
            finally:
                await asyncio.wait_for(self._consumer.stop(), timeout=30)
        finally:
            await asyncio.wait_for(self._producer.stop(), timeout=30)

    async def _loop(self, stop: asyncio.Event) -> None:
        consumer = self._consumer
        assert consumer is not None
        s = self._settings
        delay = 0.2
        while not stop.is_set():
            if self._fatal is not None:
                raise self._fatal
            if self._pending:
                try:
                    await self._seek_pending()
                    self._store_ok = True
                    delay = 0.2
                except StoreError as exc:
                    self._store_ok = False
                    log.warning("cannot read stored offsets, retrying in %.1f s: %s", delay, exc)
                    await self._idle(delay)
                    delay = min(delay * 2, s.retry_max_s)
                    continue
            elif not self._store_ok:
                try:
                    async with self._lock:
                        await self._store.check()
                    self._store_ok = True
                except StoreError:
                    pass
            wait = 0.2
            if self._batch.started_at is not None:
                age = self._clock() - self._batch.started_at
                wait = max(0.0, min(wait, s.flush_interval_s - age))
            room = max(1, s.batch_records - self._batch.size)
            data = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=room)
            for tp, messages in data.items():
                for m in messages:
                    self._take(tp.partition, m.offset, m.key, m.value)
            if self._batch.due(
                self._clock(), max_records=s.batch_records, max_age_s=s.flush_interval_s
            ):
                await self._hand_off()
            self._update_lag()
