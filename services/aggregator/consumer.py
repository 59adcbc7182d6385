"""The consume loop. One task owns every piece of state and performs every transition (seek,
pause, resume, flush, join on revocation); rebalance callbacks only signal it. The steps are
decode (decode.py) → accumulate (batch.py) → flush and commit (writer.py, run by inflight.py),
the last two once per flush lane (lanes.py), each lane a pipeline of its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError

from schemas.catalog import Catalogs
from schemas.record import PingRecord
from services.aggregator.batch import Batch, DeadLetter
from services.aggregator.config import AggregatorSettings
from services.aggregator.deadletters import (
    REASON_HEADER,
    SOURCE_HEADER,
    DeadLetterSink,
    KafkaDeadLetters,
)
from services.aggregator.decode import RecordDecoder, Unusable
from services.aggregator.flush import FlushResult, write_flush
from services.aggregator.inflight import FlushStep
from services.aggregator.lanes import Lane, lane_of, lane_records
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.source import KafkaSource, Message, PartitionSource
from services.aggregator.store import (
    OffsetClaim,
    RollupStore,
    Source,
    SourceConflict,
    StoreError,
)
from services.aggregator.writer import BatchWriter, Failed, Fenced, Outcome, Writer, Written

log = logging.getLogger(__name__)

DLQ_REASON_HEADER = REASON_HEADER
DLQ_SOURCE_HEADER = SOURCE_HEADER
SHUTDOWN_FLUSH_S = 30.0
"""How long SIGTERM waits for the last flushes (retries included)."""
REVOKE_WAIT_S = 10.0
"""How long a revocation waits for the flushes of the partitions it takes away."""
POLL_S = 0.2
PROBE_INTERVAL_S = 2.0
"""How often the loop asks Kafka (metadata, end offsets) and, when idle, PostgreSQL."""
PROBE_TIMEOUT_S = 5.0
KAFKA_ERRORS = (KafkaError, OSError, TimeoutError, LookupError)


@dataclass(slots=True)
class _Partition:
    """An assigned partition as the loop knows it."""

    stored: int | None = None
    """next_offset stored in PostgreSQL (None: no row yet)."""
    position: int | None = None
    """The next offset to take (None: whatever comes first after seeking to the beginning)."""
    sought: bool = False
    """False until sought to the stored offset; until then it is paused and nothing is taken."""
    sought_seq: int = 0
    """When it was sought last (Aggregator._seq): records fetched before that are stale."""


@dataclass(frozen=True, slots=True)
class _Assigned:
    partitions: set[int]


@dataclass(frozen=True, slots=True)
class _Revoked:
    partitions: set[int]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Signals:
    """The rebalance listener: it only posts to the loop. A revocation waits until the loop has
    joined the flushes of what it takes away, so nothing is written after the new owner seeks."""

    queue: deque[_Assigned | _Revoked] = field(default_factory=deque)
    posted: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False

    async def revoked(self, partitions: set[int]) -> None:
        if not self.running:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(_Revoked(set(partitions), done))
        self.posted.set()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout=REVOKE_WAIT_S + PROBE_TIMEOUT_S)
        except TimeoutError:
            log.warning("the loop did not finish before revocation; its flush is fenced")

    async def assigned(self, partitions: set[int]) -> None:
        if self.running:
            self.queue.append(_Assigned(set(partitions)))
            self.posted.set()

    def take(self) -> list[_Assigned | _Revoked]:
        out = list(self.queue)
        self.queue.clear()
        self.posted.clear()
        return out

    def release(self) -> None:
        """The loop has ended: let every waiting revocation go on."""
        self.running = False
        for signal in self.take():
            if isinstance(signal, _Revoked) and not signal.done.done():
                signal.done.set_result(None)


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
        source: PartitionSource | None = None,
        dead_letters: DeadLetterSink | None = None,
        lane_stores: Sequence[RollupStore] = (),
    ) -> None:
        """`store` serves the loop and the first flush lane; each of `lane_stores` (a connection
        of its own) one more lane (lanes.py)."""
        self._settings = settings
        self._topic = settings.kafka.topic
        self._group = settings.group
        self._store = store
        self._lane_stores = list(lane_stores)
        self._catalogs = catalogs
        self._decode = RecordDecoder(catalogs)
        self._metrics = metrics
        self._clock = clock
        self._given_source = source
        self._given_dead_letters = dead_letters
        self._signals = _Signals()
        # Everything below is read and written by the loop only (readiness() only reads).
        self._parts: dict[int, _Partition] = {}
        self._lanes: list[Lane] = []
        self._lane_records = lane_records(settings.batch_records, 1 + len(self._lane_stores))
        self._epoch = 0
        """Counts re-seeks: a flush submitted before the last one is stale (Lane.epoch)."""
        self._source: PartitionSource | None = None
        self._claimed: Source | None = None
        self._joined = False
        self._kafka_ok = False
        self._store_ok = False
        self._seek_at = 0.0
        self._seek_delay = 0.2
        self._check_at = 0.0
        self._probe_at = 0.0
        self._probe_task: asyncio.Task[tuple[int, dict[int, int]]] | None = None
        self._fetch: asyncio.Task[tuple[dict[int, list[Message]], int]] | None = None
        self._signal_wait: asyncio.Task[bool] | None = None
        self._seq = 0
        self._fatal: BaseException | None = None

    # readiness -----------------------------------------------------------------------------

    def readiness(self) -> str | None:
        """None when consuming, else why not (DESIGN §6: assigned and PostgreSQL reachable)."""
        if self._fatal is not None:
            return "stopping after an error"
        if not self._joined:
            return "not yet assigned partitions"
        if not self._kafka_ok:
            return "Kafka unreachable"
        if not self._store_ok:
            return "PostgreSQL unreachable"
        if self._retrying:
            return "retrying a flush"
        return None

    # the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then write what is batched and leave the group.

        Raises SourceConflict when the database counts another source, and a store error that
        is neither retryable nor tied to a record."""
        s = self._settings
        async with AsyncExitStack() as stack:
            dead_letters = self._given_dead_letters
            if dead_letters is None:
                dead_letters = await stack.enter_async_context(
                    KafkaDeadLetters(s.kafka.bootstrap, s.kafka.dlq_topic, self._topic)
                )
            source = self._given_source
            if source is None:
                source = await stack.enter_async_context(KafkaSource(s))
            self._source = source
            writers = self._writers(dead_letters)
            self._lanes = [
                Lane(index, len(writers), FlushStep(writer)) for index, writer in enumerate(writers)
            ]
            self._signals.running = True
            source.subscribe(self._signals)
            try:
                await self._loop(stop)
                if not await self._join(time.monotonic() + SHUTDOWN_FLUSH_S):
                    log.error("giving up the last flush; its records will be replayed")
            finally:
                self._signals.release()
                for lane in self._lanes:
                    await lane.step.close()
                tasks = [self._probe_task, self._signal_wait, self._fetch]
                for task in tasks:
                    if task:
                        task.cancel()
                await asyncio.gather(*[t for t in tasks if t], return_exceptions=True)

    async def _loop(self, stop: asyncio.Event) -> None:
        s = self._settings
        lanes = self._lanes
        while not stop.is_set():
            await self._handle_signals()
            for lane in lanes:
                outcome = lane.step.poll()
                if outcome is not None:
                    self._apply(lane, outcome)
            if self._fatal is not None:
                raise self._fatal
            now = self._clock()
            await self._seek_pending(now)
            await self._check_store(now)
            self._probe(now)
            if self._fatal is not None:
                raise self._fatal
            # A seek waits until no flush is in flight: hold new ones back while one is due.
            seek_due = now >= self._seek_at and any(not p.sought for p in self._parts.values())
            for lane in lanes:
                if lane.step.busy or seek_due:
                    continue
                if lane.retry is not None:
                    if now >= lane.retry_at:
                        self._submit(lane, lane.retry)
                        lane.retry = None
                elif lane.batch.due(
                    now, max_records=self._lane_records, max_age_s=s.flush_interval_s
                ):
                    self._submit(lane, lane.batch)
                    lane.batch = Batch()
            await self._fetch_or_wait(now)

    async def _fetch_or_wait(self, now: float) -> None:
        """Wait for fetched records, a rebalance signal or the flush in flight, whichever comes
        first. The fetch is a task of its own: aiokafka's getmany waits out a rebalance whatever
        its timeout, and a rebalance waits for this loop to join its flushes."""
        lanes = self._lanes
        most = self._settings.batch_records
        taken = sum(lane.batch.size for lane in lanes)
        # At most one batch's worth waiting, and two in memory with the flushes in flight
        # (as with one lane: a full batch waiting while the one before it is written).
        room = min(most - taken, 2 * most - taken - sum(lane.step.size for lane in lanes))
        if self._fetch is None and (room > 0 or not self._busy):  # full batches wait
            self._fetch = asyncio.create_task(self._fetched(self._wait(now), max(1, room)))
        if self._signal_wait is None or self._signal_wait.done():
            self._signal_wait = asyncio.create_task(self._signals.posted.wait())
        waiters: list[asyncio.Future[Any]] = [self._signal_wait]
        if self._fetch is not None:
            waiters.append(self._fetch)
        waiters.extend(lane.step.task for lane in lanes if lane.step.task is not None)
        await asyncio.wait(waiters, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
        if self._fetch is not None and self._fetch.done():
            task, self._fetch = self._fetch, None
            data, seq = task.result()
            if data:
                self._kafka_ok = True
                self._take(data, seq)

    async def _fetched(
        self, timeout_s: float, max_records: int
    ) -> tuple[dict[int, list[Message]], int]:
        """Records, and how many seeks had happened when they were handed out: a seek after
        that resets the position, so those records come again and these are stale."""
        data = await self._src.getmany(timeout_s, max_records)
        return data, self._seq

    def _wait(self, now: float) -> float:
        """How long a fetch may wait: until the first lane's batch is due, leaving out lanes
        that cannot hand theirs off anyway (a flush in flight or waiting to be retried: the loop
        wakes when it ends)."""
        wait = POLL_S
        for lane in self._lanes:
            started = lane.batch.started_at
            if started is not None and lane.retry is None and not lane.step.busy:
                wait = min(wait, self._settings.flush_interval_s - (now - started))
        return max(0.0, wait)

    @property
    def _src(self) -> PartitionSource:
        assert self._source is not None
        return self._source

    @property
    def _busy(self) -> bool:
        """Some lane has a flush in flight."""
        return any(lane.step.busy for lane in self._lanes)

    @property
    def _retrying(self) -> bool:
        """Some lane waits to write again what a failed flush left."""
        return any(lane.retry is not None for lane in self._lanes)

    # rebalances ----------------------------------------------------------------------------

    async def _handle_signals(self) -> None:
        for signal in self._signals.take():
            if isinstance(signal, _Revoked):
                await self._revoke(signal.partitions)
                if not signal.done.done():
                    signal.done.set_result(None)
            else:
                self._assign(signal.partitions)

    async def _revoke(self, partitions: set[int]) -> None:
        """Write what was consumed from the partitions before they move; what cannot be written
        in time is left to the new owner, which replays it from the stored offsets."""
        if partitions & self._parts.keys() and not await self._join(
            time.monotonic() + REVOKE_WAIT_S
        ):
            log.warning("flushes before revocation did not finish; their records are replayed")
        for p in partitions:
            self._parts.pop(p, None)
            try:
                self._metrics.lag.remove(str(p))
            except KeyError:
                pass
        for lane in self._lanes:
            lane.without(partitions)
        self._joined = False

    def _assign(self, partitions: set[int]) -> None:
        """New partitions stay paused until they are sought to the offsets in PostgreSQL."""
        fresh = partitions - self._parts.keys()
        for p in fresh:
            self._parts[p] = _Partition()
        self._src.pause(fresh)
        self._joined = True
        log.info("assigned partitions %s", sorted(partitions))

    async def _seek_pending(self, now: float) -> None:
        pending = sorted(p for p, part in self._parts.items() if not part.sought)
        if not pending or now < self._seek_at or self._busy:
            return
        try:
            count = await asyncio.wait_for(self._src.partition_count(), PROBE_TIMEOUT_S)
            self._kafka_ok = True
            await self._claim(count, pending)
            stored = await self._store.stored_offsets(self._group, self._topic)
        except SourceConflict as exc:
            self._fatal = exc
            return
        except (StoreError, *KAFKA_ERRORS) as exc:
            if isinstance(exc, StoreError):
                self._store_ok = False
            else:
                self._kafka_ok = False
            log.warning(
                "cannot seek %s yet, retrying in %.1f s: %s", pending, self._seek_delay, exc
            )
            self._seek_at = now + self._seek_delay
            self._seek_delay = min(self._seek_delay * 2, self._settings.retry_max_s)
            return
        self._store_ok = True
        self._seek_delay = 0.2
        self._seq += 1
        for p in pending:
            part = self._parts[p]
            part.stored = part.position = stored.get(p)
            await self._src.seek(p, part.stored)
            part.sought = True
            part.sought_seq = self._seq
        if not self._retrying:
            self._src.resume(pending)
        log.info("resumed partitions %s at %s", pending, {p: stored.get(p) for p in pending})

    async def _claim(self, count: int, partitions: list[int]) -> None:
        """Refuse to count a topic whose partition count differs from the database's record."""
        offered = Source(self._group, self._topic, count)
        if self._claimed is None:
            await self._store.claim_source(offered)
            self._claimed = offered
        if count != self._claimed.partitions or max(partitions, default=0) >= count:
            raise SourceConflict(self._claimed, offered)

    # records -------------------------------------------------------------------------------

    def _take(self, data: dict[int, list[Message]], seq: int) -> None:
        """Decode and batch records handed out after `seq` seeks."""
        now = self._clock()
        decode, lanes = self._decode, self._lanes
        taken = 0
        for p, messages in data.items():
            part = self._parts.get(p)
            if part is None or not part.sought or part.sought_seq > seq:
                continue  # handed out before a seek: the seek position decides what we read
            batch = lanes[lane_of(p, len(lanes))].batch
            position = part.position
            for m in messages:
                offset = m.offset
                if position is not None and offset < position:
                    continue  # already counted (a replay below the stored offset)
                position = offset + 1
                taken += 1
                try:
                    record = decode(m.value)
                except Unusable as exc:
                    batch.add_dead(DeadLetter(p, offset, m.value, m.key, exc.reason), now)
                    continue
                batch.add(p, offset, record, now, m.key, m.value)
            part.position = position
        if taken:
            self._metrics.records_consumed.inc(taken)

    # flushing ------------------------------------------------------------------------------

    def _stored(self) -> dict[int, int | None]:
        return {p: part.stored for p, part in self._parts.items()}

    def _submit(self, lane: Lane, batch: Batch) -> None:
        if not batch.empty:
            lane.epoch = self._epoch
            lane.step.submit(batch, lane.own(self._stored()))

    def _writers(self, dead_letters: DeadLetterSink) -> list[Writer]:
        """One writer per lane, each on a store of its own; the lanes take turns at the rollups."""
        stores = [self._store, *self._lane_stores]
        turn = asyncio.Lock() if len(stores) > 1 else None
        return [
            BatchWriter(
                self._flush(store, turn), dead_letters, topic=self._topic, mirror=self._mirror
            )
            for store in stores
        ]

    def _flush(
        self, store: RollupStore, turn: asyncio.Lock | None
    ) -> Callable[[list[OffsetClaim], list[PingRecord]], Awaitable[FlushResult]]:
        """One flush transaction on `store` (the writer calls it once per part of a batch)."""

        async def flush(claims: list[OffsetClaim], records: list[PingRecord]) -> FlushResult:
            return await write_flush(
                store,
                self._catalogs,
                group=self._group,
                topic=self._topic,
                claims=claims,
                records=records,
                horizons=self._settings.horizons,
                turn=turn,
            )

        return flush

    async def _mirror(self, offsets: dict[int, int]) -> None:
        """Mirror the stored offsets to Kafka for lag tools; PostgreSQL stays the truth."""
        try:
            await asyncio.wait_for(self._src.commit(offsets), PROBE_TIMEOUT_S)
        except KAFKA_ERRORS as exc:
            log.info("could not mirror offsets to Kafka: %s", exc)

    def _apply(self, lane: Lane, outcome: Outcome) -> None:
        """Take a finished flush's outcome into the loop's state."""
        stale = lane.epoch != self._epoch
        if isinstance(outcome, Fenced):
            if stale:
                return  # every partition is being sought again already
            self._metrics.fenced.inc()
            log.warning(
                "stored offsets moved for partitions %s: another member owns them now;"
                " dropping what is in memory and seeking again",
                outcome.partitions,
            )
            self._reseek_all()
            return
        for p, offset in outcome.stored.items():
            part = self._parts.get(p)
            if part is not None:
                part.stored = offset
        for letter in outcome.dead:
            self._metrics.dlq_records.labels(reason=letter.reason).inc()
        if isinstance(outcome, Failed):
            self._metrics.flush_errors.inc()
            self._store_ok = False
            if stale:
                log.warning("flush failed (its records are read again): %s", outcome.reason)
                return
            lane.retry_delay = min(max(0.2, lane.retry_delay * 2), self._settings.retry_max_s)
            log.warning("flush failed, retrying in %.1f s: %s", lane.retry_delay, outcome.reason)
            lane.retry = outcome.rest
            lane.retry_at = self._clock() + lane.retry_delay
            self._src.pause(self._parts)
            return
        self._written(lane, outcome)

    def _written(self, lane: Lane, outcome: Written) -> None:
        self._store_ok = True
        if lane.retry_delay:
            lane.retry_delay = 0.0
            if not self._retrying:
                self._src.resume(p for p, part in self._parts.items() if part.sought)
                log.info("flushing again")
        m = self._metrics
        m.flush_latency.observe(outcome.seconds)
        m.batch_size.observe(
            sum(r.counted + r.duplicates for r in outcome.results) + len(outcome.dead)
        )
        for r in outcome.results:
            m.rows_written.inc(r.rows_written)
            m.duplicates.inc(r.duplicates)
            m.flushed(r.over_cap, r.events_only, r.too_old)
        m.last_flush.set(time.time())

    def _reseek_all(self) -> None:
        """Forget what is in memory and read every partition again from the stored offsets
        (once no flush is in flight: _seek_pending waits for them)."""
        self._epoch += 1
        for lane in self._lanes:
            lane.forget()
        for part in self._parts.values():
            part.sought = False
        self._src.pause(self._parts)

    async def _join(self, deadline: float) -> bool:
        """Write every lane's flush in flight, the ones waiting to be retried and the current
        batches, until `deadline` (time.monotonic()); False if something was left to be
        replayed. Every flush in flight is joined (or cancelled at the deadline) before it
        returns, whatever happened to another lane's."""
        lanes = self._lanes
        complete = True
        while True:
            busy = next((lane for lane in lanes if lane.step.busy), None)
            if busy is not None:
                outcome = await busy.step.join(max(0.0, deadline - time.monotonic()))
                if outcome is None:  # cancelled at the deadline: replayed from stored offsets
                    self._reseek_all()
                    complete = False
                    continue
                self._apply(busy, outcome)
                if isinstance(outcome, Fenced):
                    complete = False
                continue
            waiting = [lane for lane in lanes if lane.retry is not None]
            if waiting:
                wait = max(0.0, max(lane.retry_at for lane in waiting) - self._clock())
                if time.monotonic() + wait > deadline:
                    self._reseek_all()
                    return False
                await asyncio.sleep(wait)  # the back-off before retrying, within the deadline
                for lane in waiting:
                    assert lane.retry is not None
                    self._submit(lane, lane.retry)
                    lane.retry = None
                continue
            filled = [lane for lane in lanes if not lane.batch.empty]
            if not filled:
                return complete
            for lane in filled:
                self._submit(lane, lane.batch)
                lane.batch = Batch()

    # probes --------------------------------------------------------------------------------

    async def _check_store(self, now: float) -> None:
        """While no flush says so, ask PostgreSQL now and then whether it is reachable."""
        if now < self._check_at or self._busy or self._retrying:
            return
        self._check_at = now + PROBE_INTERVAL_S
        try:
            await self._store.check()
            self._store_ok = True
        except StoreError as exc:
            if self._store_ok:
                log.warning("PostgreSQL unreachable: %s", exc)
            self._store_ok = False

    def _probe(self, now: float) -> None:
        """Ask Kafka for the topic's metadata and the partitions' ends, in a task of its own:
        readiness, the lag gauge and the partition-count invariant come from its answer."""
        task = self._probe_task
        if task is not None:
            if not task.done():
                return
            self._probe_task = None
            if task.exception() is not None:
                if self._kafka_ok:
                    log.warning("Kafka unreachable: %s", task.exception())
                self._kafka_ok = False
            else:
                count, ends = task.result()
                self._kafka_ok = True
                self._probed(count, ends)
        if now >= self._probe_at:
            self._probe_at = now + PROBE_INTERVAL_S
            self._probe_task = asyncio.create_task(self._ask_kafka(sorted(self._parts)))

    async def _ask_kafka(self, partitions: list[int]) -> tuple[int, dict[int, int]]:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return await self._src.partition_count(), await self._src.end_offsets(partitions)

    def _probed(self, count: int, ends: dict[int, int]) -> None:
        if self._claimed is not None and count != self._claimed.partitions:
            self._fatal = SourceConflict(self._claimed, Source(self._group, self._topic, count))
            return
        for p, end in ends.items():
            part = self._parts.get(p)
            if part is not None:
                self._metrics.lag.labels(partition=str(p)).set(max(0, end - (part.stored or 0)))
