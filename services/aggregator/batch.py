"""A batch of consumed records waiting for one flush; pure, the clock is passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.record import PingRecord


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
    """Records and the next offset of every partition they came from, since `started_at`."""

    records: dict[int, list[PingRecord]] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    started_at: float | None = None
    size: int = 0

    def add(self, partition: int, offset: int, record: PingRecord | None, now: float) -> None:
        """Take the record at `offset` (None: it went to the dead letters, only the offset moves)."""
        if self.started_at is None:
            self.started_at = now
        if record is not None:
            self.records.setdefault(partition, []).append(record)
        self.next_offsets[partition] = offset + 1
        self.size += 1

    def add_dead(self, letter: DeadLetter, now: float) -> None:
        self.dead.append(letter)
        self.add(letter.partition, letter.offset, None, now)

    def due(self, now: float, *, max_records: int, max_age_s: float) -> bool:
        if self.started_at is None:
            return False
        return self.size >= max_records or now - self.started_at >= max_age_s

    @property
    def empty(self) -> bool:
        return not self.next_offsets

    def all_records(self) -> list[PingRecord]:
        return [r for records in self.records.values() for r in records]

    def without(self, partitions: set[int]) -> Batch:
        """The batch minus what came from `partitions` (revoked ones: their new owner replays them)."""
        kept = Batch(started_at=self.started_at)
        for partition, records in self.records.items():
            if partition not in partitions:
                kept.records[partition] = records
        kept.next_offsets = {p: o for p, o in self.next_offsets.items() if p not in partitions}
        kept.dead = [d for d in self.dead if d.partition not in partitions]
        kept.size = sum(len(r) for r in kept.records.values()) + len(kept.dead)
        if kept.empty:
            kept.started_at = None
        return kept
