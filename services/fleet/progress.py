"""A progress line for `census fleet`: rate, totals and errors, redrawn in place on a terminal."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class FleetStats:
    """What the fleet has seen so far; every counter is a number of pings unless it says requests."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    retried_requests: int = 0
    throttled_requests: int = 0
    unavailable_requests: int = 0
    connection_errors: int = 0
    unconfirmed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        return (
            f"{elapsed:6.1f}s  accepted {self.accepted:>9,}  ({self.accepted / elapsed:>8,.0f}/s)  "
            f"rejected {self.rejected:,}  429 {self.throttled_requests:,}  "
            f"503 {self.unavailable_requests:,}  conn-errors {self.connection_errors:,}  "
            f"retries {self.retried_requests:,}"
        )


class Progress:
    """Redraws one line on a TTY every `every_s`; prints a line each 5 s elsewhere."""

    def __init__(self, stats: FleetStats, out: TextIO = sys.stderr, every_s: float = 0.5) -> None:
        self._stats = stats
        self._out = out
        self._tty = out.isatty()
        self._every = every_s if self._tty else 5.0
        self._last = 0.0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._last < self._every:
            return
        self._last = now
        if self._tty:
            self._out.write("\r" + self._stats.line(now) + "\x1b[K")
        else:
            self._out.write(self._stats.line(now) + "\n")
        self._out.flush()

    def finish(self) -> None:
        self._out.write(("\r" if self._tty else "") + self._stats.line(time.monotonic()) + "\n")
        self._out.flush()
