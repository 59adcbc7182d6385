"""Writing one batch exactly once: its dead letters, then one transaction. When the database
refuses a value some record carries, the batch is halved until that record stands alone; it goes
to the dead-letter topic and the rest is written, so no record ever stops a partition."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from schemas.record import PingRecord
from services.aggregator.batch import Batch, DeadLetter
from services.aggregator.deadletters import DeadLetterError, DeadLetterSink
from services.aggregator.flush import FlushResult
from services.aggregator.store import FencedError, OffsetClaim, StoreError

log = logging.getLogger(__name__)

UNSTORABLE: Final = "unstorable"
"""The DLQ reason of a record whose values the database refuses."""

FlushFn = Callable[[list[OffsetClaim], list[PingRecord]], Awaitable[FlushResult]]
"""One flush transaction (flush.write_flush with the consumer's store, catalogs, group, topic)."""


@dataclass(frozen=True, slots=True)
class Written:
    """The batch is written and its offsets stored (`stored`: next offset per partition)."""

    stored: dict[int, int]
    results: list[FlushResult]
    """One per transaction (more than one when a refused record was isolated)."""
    dead: list[DeadLetter]
    """Every letter sent for this batch, whatever the reason."""
    seconds: float
    """From the first dead letter to the last commit (not the offsets' mirror to Kafka)."""


@dataclass(frozen=True, slots=True)
class Fenced:
    """Another member moved the stored offsets of `partitions`: nothing of the rest was written."""

    partitions: list[int]


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure worth retrying (PostgreSQL or Kafka away). Isolating a refused record writes in
    parts, so some of the batch may be stored already: `rest` is what remains to write."""

    reason: str
    rest: Batch
    stored: dict[int, int]
    dead: list[DeadLetter]


Outcome = Written | Fenced | Failed


class Writer(Protocol):
    """The flush step's boundary: one batch written against the offsets stored before it."""

    async def write(self, batch: Batch, stored: Mapping[int, int | None]) -> Outcome: ...


@dataclass(slots=True)
class _Progress:
    stored: dict[int, int | None]
    dead: list[DeadLetter] = field(default_factory=list)
    results: list[FlushResult] = field(default_factory=list)

    def add(self, claims: list[OffsetClaim], result: FlushResult) -> None:
        for claim in claims:
            self.stored[claim.partition] = claim.next_offset
        self.results.append(result)

    def moved(self) -> dict[int, int]:
        return {p: o for p, o in self.stored.items() if o is not None}


class BatchWriter:
    """The flush step: writes a batch against the offsets stored before it."""

    def __init__(
        self,
        flush: FlushFn,
        dead_letters: DeadLetterSink,
        *,
        topic: str,
        mirror: Callable[[dict[int, int]], Awaitable[None]] | None = None,
    ) -> None:
        self._flush = flush
        self._dead_letters = dead_letters
        self._topic = topic
        self._mirror = mirror

    async def write(self, batch: Batch, stored: Mapping[int, int | None]) -> Outcome:
        """Write `batch`; a store error that is neither retryable nor tied to a record raises."""
        started = time.perf_counter()
        progress = _Progress(dict(stored))
        rest = batch
        try:
            if batch.dead:
                await self._dead_letters.send(batch.dead)
                progress.dead.extend(batch.dead)
                rest = Batch.of(batch.entries, batch.started_at)
            await self._write(rest, progress)
        except FencedError as exc:
            return Fenced(exc.partitions)
        except (StoreError, DeadLetterError) as exc:
            if isinstance(exc, StoreError) and not exc.retryable:
                raise
            return Failed(str(exc), rest.after(progress.stored), progress.moved(), progress.dead)
        seconds = time.perf_counter() - started
        if self._mirror is not None:
            await self._mirror(progress.moved())
        return Written(progress.moved(), progress.results, progress.dead, seconds)

    async def _write(self, batch: Batch, progress: _Progress) -> None:
        if batch.empty:
            return
        claims = batch.claims(progress.stored)
        records = batch.all_records()
        try:
            result = await self._flush(claims, records)
        except StoreError as exc:
            if not exc.record_error or not records:
                raise
            if batch.size > 1:
                first, second = batch.halves()
                await self._write(first, progress)
                await self._write(second, progress)
                return
            await self._dead_letter(batch, exc, progress)
            return
        progress.add(claims, result)

    async def _dead_letter(self, batch: Batch, exc: StoreError, progress: _Progress) -> None:
        """Send the one record the database refused to the DLQ, then store its offset alone."""
        partition, offset, _, key, value = batch.entries[0]
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "StoreError"
        # The class of the error only: PostgreSQL's message may quote the refused value.
        log.warning(
            "PostgreSQL refused the record at %s/%d/%d (%s); it goes to the dead-letter topic",
            self._topic,
            partition,
            offset,
            cause,
        )
        letter = DeadLetter(partition, offset, value, key, UNSTORABLE)
        await self._dead_letters.send([letter])
        progress.dead.append(letter)
        await self._write(Batch.of([(partition, offset, None, key, value)]), progress)
