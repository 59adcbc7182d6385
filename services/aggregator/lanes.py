"""Flush lanes: one batch written as concurrent transactions, one per lane of partitions, each on
its own PostgreSQL connection, so that one lane's Python runs while another waits on PostgreSQL.

A partition always goes to the same lane (`lane_of`), and an install to one partition, so the
lanes' per-install rows are disjoint; the rollup rows they share are written in turns
(`flush.write_flush(turn=...)`). The batch's outcome is the lanes' outcomes combined (`combine`): written
only if every lane wrote; a failed lane's records are retried, the others' offsets are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from services.aggregator.batch import Batch, DeadLetter
from services.aggregator.writer import Failed, Fenced, Outcome, Writer, Written


def lane_of(partition: int, lanes: int) -> int:
    """The lane that writes `partition`, always the same one."""
    return partition % lanes


def split(batch: Batch, lanes: int) -> list[Batch]:
    """The batch's entries and dead letters by lane, in consumption order within each."""
    parts = [Batch(started_at=batch.started_at) for _ in range(lanes)]
    for entry in batch.entries:
        part = parts[lane_of(entry[0], lanes)]
        part.entries.append(entry)
        part.next_offsets[entry[0]] = entry[1] + 1
    for letter in batch.dead:
        parts[lane_of(letter.partition, lanes)].dead.append(letter)
    for part in parts:
        if not part.entries:
            part.started_at = None
    return parts


def combine(outcomes: Sequence[Outcome]) -> Outcome:
    """One batch's outcome from its lanes' (each wrote different partitions)."""
    fenced = sorted({p for o in outcomes if isinstance(o, Fenced) for p in o.partitions})
    if fenced:
        # The loop then reads every partition's offset from PostgreSQL again, those the other
        # lanes moved included.
        return Fenced(fenced)
    stored: dict[int, int] = {}
    dead: list[DeadLetter] = []
    for outcome in outcomes:
        assert not isinstance(outcome, Fenced)
        stored.update(outcome.stored)
        dead.extend(outcome.dead)
    failed = [o for o in outcomes if isinstance(o, Failed)]
    if failed:
        rest = Batch()
        for f in failed:
            rest.entries.extend(f.rest.entries)
            rest.next_offsets.update(f.rest.next_offsets)
            rest.dead.extend(f.rest.dead)
            starts = [s for s in (rest.started_at, f.rest.started_at) if s is not None]
            rest.started_at = min(starts) if starts else None
        return Failed(failed[0].reason, rest, stored, dead)
    written = [o for o in outcomes if isinstance(o, Written)]
    return Written(
        stored,
        [r for o in written for r in o.results],
        dead,
        max((o.seconds for o in written), default=0.0),
    )


class LanedWriter:
    """Writes each batch as one transaction per lane at once; mirrors the offsets once."""

    def __init__(
        self,
        lanes: Sequence[Writer],
        *,
        mirror: Callable[[dict[int, int]], Awaitable[None]] | None = None,
    ) -> None:
        self._lanes = list(lanes)
        self._mirror = mirror

    async def write(self, batch: Batch, stored: Mapping[int, int | None]) -> Outcome:
        n = len(self._lanes)
        work = [
            # Each lane is told only its own partitions' offsets: its outcome reports them all.
            (writer, part, {p: o for p, o in stored.items() if lane_of(p, n) == lane})
            for lane, (writer, part) in enumerate(zip(self._lanes, split(batch, n), strict=True))
            if part.entries or part.dead
        ]
        results = await asyncio.gather(
            *(writer.write(part, own) for writer, part, own in work), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        outcome = combine([r for r in results if not isinstance(r, BaseException)])
        if isinstance(outcome, Written) and self._mirror is not None:
            await self._mirror(outcome.stored)
        return outcome
