"""run_service: cyclic garbage is collected within a bounded time even with the high gen0
threshold (a header flood once piled up 650 MB of it)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from services.common.lifecycle import (
    BURST_GARBAGE,
    FULL_COLLECTION_S,
    GC_THRESHOLDS,
    run_service,
)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


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


def _full_collections_in(seconds: float, make_garbage: bool) -> int:
    """Full collections while a served `main` runs `seconds`, making cyclic garbage or not."""
    stamps: list[float] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            stamps.append(time.monotonic())

    async def main(stop: asyncio.Event) -> int:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if make_garbage:
                for _ in range(2 * BURST_GARBAGE):
                    _Cycle()
            await asyncio.sleep(0.005)
        return 0

    gc.callbacks.append(seen)
    try:
        assert run_service(main, serves_http=True) == 0
    finally:
        gc.callbacks.remove(seen)
    return len(stamps)


def test_collections_come_sooner_while_each_finds_much_garbage(restore_gc: None) -> None:
    # The clock alone allows about 1.2 / 0.25 = 5 full collections; bursts every 0.05 s, 24.
    quiet = _full_collections_in(1.2, make_garbage=False)
    flooded = _full_collections_in(1.2, make_garbage=True)
    assert quiet <= 1.2 / FULL_COLLECTION_S + 1, quiet
    assert flooded >= 2 * (1.2 / FULL_COLLECTION_S), (quiet, flooded)
