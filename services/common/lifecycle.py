"""Running a service process: signals to a stop event, and a bounded shutdown."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

ServiceMain = Callable[[asyncio.Event], Awaitable[int]]
"""A service's main coroutine: runs until the event is set, then shuts down and returns a code."""


async def _serve(main: ServiceMain) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await main(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_service(main: ServiceMain) -> int:
    """Run `main` until SIGTERM or SIGINT; returns its exit code. SIGUSR1 dumps every thread's
    stack to stderr, for a process that does not stop."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A flush or a batch request holds tens of thousands of young objects until it is done; at
    # the default threshold (700) the collector re-traverses them every few hundred allocations
    # (measured: +15% ingest batch throughput, a third of the aggregator's decode time).
    gc.set_threshold(100_000, 50, 100)
    return asyncio.run(_serve(main))


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, returning True early if `stop` was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
