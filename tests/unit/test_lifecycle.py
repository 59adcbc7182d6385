"""run_service: cyclic garbage is collected within a bounded time even with the high gen0
threshold (a header flood once piled up 650 MB of it)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from services.common.lifecycle import FULL_COLLECTION_S, GC_THRESHOLDS, run_service


class _Node:
    def __init__(self) -> None:
        self.payload = bytearray(256 * 1024)  # what the flood's cycles held: one socket read
        self.me = self


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_a_cycle_made_while_serving_is_freed_within_a_few_collection_intervals(
    restore_gc: None,
) -> None:
    freed_after: list[float] = []

    async def main(stop: asyncio.Event) -> int:
        assert gc.get_threshold() == GC_THRESHOLDS
        loop = asyncio.get_running_loop()
        freed = asyncio.Event()
        node = _Node()
        weakref.finalize(node, freed.set)  # runs in this thread, inside the collection
        del node  # unreachable now, but only the cyclic collector can free it
        started = loop.time()
        try:
            await asyncio.wait_for(freed.wait(), timeout=5 * FULL_COLLECTION_S)
        except TimeoutError:
            return 1
        freed_after.append(loop.time() - started)
        return 0

    assert run_service(main, serves_http=True) == 0, (
        "a cycle made while serving was not freed within 5 intervals"
    )
    assert freed_after[0] < 5 * FULL_COLLECTION_S


def test_a_service_without_a_public_http_server_has_no_periodic_collection(
    restore_gc: None,
) -> None:
    async def main(stop: asyncio.Event) -> int:
        names = {task.get_name() for task in asyncio.all_tasks()}
        return 1 if "gc" in names else 0

    assert run_service(main) == 0


def test_a_batch_worker_runs_without_automatic_collection_but_a_periodic_full_one(
    restore_gc: None,
) -> None:
    seen: list[tuple[bool, bool]] = []

    async def main(stop: asyncio.Event) -> int:
        names = {task.get_name() for task in asyncio.all_tasks()}
        seen.append((gc.isenabled(), "gc" in names))
        return 0

    assert run_service(main, batch_worker=True) == 0
    assert seen == [(False, True)], "automatic collection on, or no periodic collection"
    assert gc.isenabled(), "automatic collection is not back on after the service ended"
