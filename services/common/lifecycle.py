"""Running a service process: signals to a stop event, and a bounded shutdown."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Final

log = logging.getLogger(__name__)

ServiceMain = Callable[[asyncio.Event], Awaitable[int]]
"""A service's main coroutine: runs until the event is set, then shuts down and returns a code."""


GC_THRESHOLDS: Final = (100_000, 50, 100)
FULL_COLLECTION_S: Final = 0.25
# Measured with bench/ingest_gc.py on the shared 2-core machine (CPU per 1,000-ping
# /v1/batch request from /proc; flood = 64 connections sending 129 headers of 8 kB each for 15 s,
# the hostile-input suite's; RSS peak sampled from /proc every 0.1 s; base RSS 46 MB):
#   gen0, gen1, gen2       full collection   CPU per batch    RSS peak under the flood
#   700, 10, 10 (Python)   never             29.8-31.7 ms     340-408 MB
#   10_000, 10, 10         never             23.8-30.7 ms     254 MB
#   100_000, 50, 100       never             20.3-22.0 ms     646-688 MB (the 525-650 MB seen)
#   700, 10, 10            every 1 s         31.4 ms          127-214 MB
#   100_000, 50, 100       every 1 s         22.7-31.9 ms     151-257 MB; 188 MB with 128
#                                                             connections and 400 headers each
# Measured again after the session's merges (tests/e2e/test_hostile_inputs.py's 12 s flood, 64
# connections, RSS peak; the same machine, busier):
#   100_000, 50, 100       every 1 s                          691 MB
#   100_000, 50, 100       every 0.5 s                        417 MB
#   100_000, 50, 100       every 0.25 s      (about 3 % of a  249-275 MB (chosen)
#                                            core: 6-9 ms each)
# Measured later (py-spy, 12 s of 100-ping /v1/batch requests, 64
# connections): the collection every 0.25 s is 10-11 % of ingest's samples there (1-1.4 % on
# /v1/ping). Collecting only when RSS grew (2 or 16 MB since the last collection, checked every
# 0.25 s, at least every 5 s) let the flood above reach 537-662 MB, because RSS grows in bursts
# and stays flat right after a collection; so the clock stays. Pings are untracked (gc=False).
# (the "never" rows come from the same harness before the periodic collection existed; the CPU
# figures vary by a third between runs on this machine; a full collection of a running ingest
# took 6-9 ms). The flood's garbage is cycles holding a 256 KiB socket read each: aiohttp
# queues a parser exception per read after a malformed head, and its traceback holds the frame
# that read the data. Objects of a live connection are promoted to the old generation, which
# Python collects rarely whatever gen0's threshold, so only a periodic full collection bounds
# them; the high gen0 threshold keeps batches cheap.

BATCH_COLLECTION_S: Final = 10.0
# A batch worker (the aggregator) makes almost no cyclic garbage: a full collection right after
# each flush found 28 objects once, then 0 in each of the next 14, while it took 22-30 ms (43,000
# tracked objects: the batch being filled). Its automatic collections still cost: in one A/B of
# bench/aggregate.py's mixes at reduced size (300,000 write-heavy pings, 400,000 realistic ones),
# automatic collection off cut its CPU per ping from 27.8 to 23.8 us (write-heavy) and from 13.4
# to 11.7 us (realistic); a full collection every 1 s instead gave back most of it (26.3 us). So
# it runs without automatic collection and a full one every 10 s bounds what cycles an error
# path leaves (about 0.25 % of a core at 25 ms each).


BURST_COLLECTION_S: Final = 0.05
BURST_GARBAGE: Final = 1_000
# On a faster machine (2026-12-02, tests/e2e/test_hostile_inputs.py's flood, 64 connections for
# 12 s) each 0.25 s collection found 38,000-48,000 unreachable objects and RSS peaked at
# 462-492 MB (bar 400), the same at the session's starting commit: the flood makes garbage
# faster than the clock frees it. Collecting again after 0.05 s while a pass finds at least
# 1,000 objects kept the peak at 249 MB with as many heads answered (35,332 against 35,217),
# costing 626 ms of collections over those 12 s; a pass that finds little goes back to the
# clock, so a service without such garbage collects as before.


async def _collect_cycles(interval_s: float) -> None:
    """A full collection every `interval_s`, sooner (BURST_COLLECTION_S) while each finds much:
    frees cyclic garbage promoted to the old generation (objects from before the service
    started are frozen, so each pass sees only newer ones)."""
    wait = interval_s
    while True:
        await asyncio.sleep(wait)
        found = gc.collect()
        wait = min(interval_s, BURST_COLLECTION_S) if found >= BURST_GARBAGE else interval_s


async def _serve(main: ServiceMain, *, collect_every_s: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gc.freeze()  # imports, catalogs, Structs: never garbage, never traversed again
    collector = (
        asyncio.create_task(_collect_cycles(collect_every_s), name="gc")
        if collect_every_s is not None
        else None
    )
    try:
        return await main(stop)
    finally:
        if collector is not None:
            collector.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_service(main: ServiceMain, *, serves_http: bool = False, batch_worker: bool = False) -> int:
    """Run `main` until SIGTERM or SIGINT; returns its exit code. SIGUSR1 dumps every thread's
    stack to stderr, for a process that does not stop.

    `serves_http`: a public HTTP server (ingest, the dashboard) gets the periodic full collection
    that bounds the garbage malformed request heads leave (the table above).
    `batch_worker`: a process that holds a large batch and makes almost no cycles (the
    aggregator) runs without automatic collection and a full one every BATCH_COLLECTION_S."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A flush or a batch request holds tens of thousands of young objects until it is done; at
    # the default threshold (700) the collector re-traverses them every few hundred allocations
    # (measured: +15% ingest batch throughput, a third of the aggregator's decode time). The
    # periodic full collection in _serve bounds memory (the table above GC_THRESHOLDS).
    gc.set_threshold(*GC_THRESHOLDS)
    every: float | None = FULL_COLLECTION_S if serves_http else None
    if batch_worker:
        gc.disable()
        every = BATCH_COLLECTION_S
    try:
        return asyncio.run(_serve(main, collect_every_s=every))
    finally:
        gc.enable()


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, returning True early if `stop` was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
