"""Flush lanes: the partitions split into lanes, each a pipeline of its own on its own
PostgreSQL connection — its batch, its flush in flight, its retry — so that one lane's Python runs
while another waits on PostgreSQL, and a lane's next batch starts as soon as its last one
committed, not when every lane's has.

A partition always goes to the same lane (`lane_of`), and an install to one partition, so the
lanes' per-install rows and offsets are disjoint; the rollup rows they share are written in turns
(`flush.write_flush(turn=...)`), and their upserts add, so the lanes' order does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.aggregator.batch import Batch
from services.aggregator.inflight import FlushStep


def lane_of(partition: int, lanes: int) -> int:
    """The lane that writes `partition`, always the same one."""
    return partition % lanes


def lane_records(batch_records: int, lanes: int) -> int:
    """How many records make one lane's batch due: the batch size shared out, so the records
    held in memory are bounded as with one lane."""
    return max(1, math.ceil(batch_records / lanes))


@dataclass(slots=True)
class Lane:
    """One lane's state. Only the consume loop reads or changes it (consumer.py)."""

    index: int
    count: int
    """How many lanes there are."""
    step: FlushStep
    batch: Batch = field(default_factory=Batch)
    """Records taken and not yet submitted."""
    retry: Batch | None = None
    """What a failed flush left to write, submitted again at `retry_at` (before `batch`)."""
    retry_at: float = 0.0
    retry_delay: float = 0.0
    """The back-off of the last failure; 0 once a flush of this lane was written again."""
    epoch: int = 0
    """The loop's epoch (Aggregator._epoch) when the flush in flight was submitted: one from
    before a re-seek is stale, its records are read again from the stored offsets."""

    def owns(self, partition: int) -> bool:
        return lane_of(partition, self.count) == self.index

    def own(self, stored: Mapping[int, int | None]) -> dict[int, int | None]:
        """The stored offsets of this lane's partitions only: a flush's outcome reports every
        partition it was handed, and another lane's, reported at an old offset, would move back."""
        return {p: o for p, o in stored.items() if self.owns(p)}

    def without(self, partitions: set[int]) -> None:
        """Forget what came from `partitions` (revoked: their new owner replays them)."""
        self.batch = self.batch.without(partitions)
        if self.retry is not None:
            self.retry = self.retry.without(partitions)

    def forget(self) -> None:
        """Drop what is held in memory (a re-seek reads it again)."""
        self.batch = Batch()
        self.retry = None
        self.retry_delay = 0.0
