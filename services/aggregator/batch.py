"""A batch of consumed records waiting for one flush; pure, the clock is passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.record import PingRecord
from services.aggregator.store import OffsetClaim

Entry = tuple[int, int, PingRecord | None, bytes | None, bytes | None]
"""(partition, offset, record or None when it went to the dead letters, key, value): the key and
value are kept so that a record the database refuses can still go to the DLQ as it came."""


@dataclass(slots=True)
class DeadLetter:
    """A record the aggregator cannot count, with where it came from and why."""

    partition: int
    offset: int
    value: bytes | None
    key: bytes | None
    reason: str


@dataclass(slots=True)
class Batch:
    """Records in the order consumed and the next offset of every partition they came from,
    since `started_at`. Any prefix of `entries` ends each partition at a contiguous offset."""

    entries: list[Entry] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    """Letters still to send before the batch's offsets may be stored."""
    started_at: float | None = None

    @classmethod
    def of(cls, entries: list[Entry], started_at: float | None = None) -> Batch:
        batch = cls(entries=entries, started_at=started_at if entries else None)
        for partition, offset, *_ in entries:
            batch.next_offsets[partition] = offset + 1
        return batch

    def add(
        self,
        partition: int,
        offset: int,
        record: PingRecord | None,
        now: float,
        key: bytes | None = None,
        value: bytes | None = None,
    ) -> None:
        """Take the record at `offset` (None: it went to the dead letters, only the offset moves)."""
        if self.started_at is None:
            self.started_at = now
        self.entries.append((partition, offset, record, key, value))
        self.next_offsets[partition] = offset + 1

    def add_dead(self, letter: DeadLetter, now: float) -> None:
        self.dead.append(letter)
        self.add(letter.partition, letter.offset, None, now)

    def due(self, now: float, *, max_records: int, max_age_s: float) -> bool:
        if self.started_at is None:
            return False
        return len(self.entries) >= max_records or now - self.started_at >= max_age_s

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def empty(self) -> bool:
        return not self.entries

    def all_records(self) -> list[PingRecord]:
        return [e[2] for e in self.entries if e[2] is not None]

    def claims(self, stored: Mapping[int, int | None]) -> list[OffsetClaim]:
        """The offset claims of a flush of this batch, from the offsets stored before it."""
        return [OffsetClaim(p, stored.get(p), o) for p, o in sorted(self.next_offsets.items())]

    def halves(self) -> tuple[Batch, Batch]:
        """The first and the second half of the entries (the dead letters are not carried)."""
        middle = len(self.entries) // 2
        return Batch.of(self.entries[:middle]), Batch.of(self.entries[middle:])

    def after(self, stored: Mapping[int, int | None]) -> Batch:
        """The batch without the entries below the stored offsets (already written)."""
        if all(stored.get(p) is None for p in self.next_offsets):
            return self
        kept = [e for e in self.entries if e[1] >= (stored.get(e[0]) or 0)]
        out = Batch.of(kept, self.started_at)
        out.dead = [d for d in self.dead if d.offset >= (stored.get(d.partition) or 0)]
        return out

    def without(self, partitions: set[int]) -> Batch:
        """The batch minus what came from `partitions` (revoked ones: their new owner replays them)."""
        out = Batch.of([e for e in self.entries if e[0] not in partitions], self.started_at)
        out.dead = [d for d in self.dead if d.partition not in partitions]
        return out
