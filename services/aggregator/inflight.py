"""At most one batch being written, as a task beside the consume loop: submit, poll, join."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from services.aggregator.batch import Batch
from services.aggregator.writer import Outcome, Writer


class FlushStep:
    """The loop submits a batch, polls for its outcome without waiting, or joins it with a time
    limit. Only the loop calls it, so an outcome is taken exactly once."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._task: asyncio.Task[Outcome] | None = None
        self._size = 0

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def size(self) -> int:
        """How many records the flush in flight holds (0 when none is)."""
        return self._size if self._task is not None else 0

    @property
    def task(self) -> asyncio.Task[Outcome] | None:
        """The flush in flight, to wait on beside other things (take its outcome with poll)."""
        return self._task

    def submit(self, batch: Batch, stored: Mapping[int, int | None]) -> None:
        if self._task is not None:
            raise RuntimeError("a flush is in flight already")
        self._task = asyncio.create_task(self._writer.write(batch, dict(stored)))
        self._size = batch.size

    def poll(self) -> Outcome | None:
        """The outcome of the flush if it has finished (its exception if it failed for good)."""
        task = self._task
        if task is None or not task.done():
            return None
        self._task = None
        return task.result()

    async def wait(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the flush in flight to finish (its outcome stays)."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout_s)

    async def join(self, timeout_s: float) -> Outcome | None:
        """The outcome of the flush in flight, waiting up to `timeout_s`; None when there is
        none or it did not finish in time (it is cancelled then: its records are replayed)."""
        if self._task is None:
            return None
        await self.wait(timeout_s)
        if not self._task.done():
            await self.close()
            return None
        return self.poll()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
