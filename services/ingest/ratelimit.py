"""Per-client token buckets in a bounded, self-expiring table. Pure: the clock is a parameter."""

from __future__ import annotations

from collections import OrderedDict


class RateLimiter:
    """`rate` tokens per second up to `burst`; one token per request.

    A bucket idle long enough to be full again is indistinguishable from a new one, so it is
    forgotten; beyond `capacity` clients the least recently seen is forgotten too. Either way the
    table never grows without bound and an address does not outlive its usefulness.
    """

    def __init__(self, *, rate: float, burst: float, capacity: int) -> None:
        self._rate = rate
        self._burst = burst
        self._capacity = capacity
        self._refill_s = burst / rate if rate > 0 else 0.0
        # key -> (tokens left, time of last update); least recently seen first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            key, (_tokens, seen) = next(iter(buckets.items()))
            if now - seen < self._refill_s and len(buckets) < self._capacity:
                return
            del buckets[key]

    def take(self, key: str, now: float) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        if not self.enabled:
            return 0.0
        entry = self._buckets.pop(key, None)
        self._expire(now)
        if entry is None:
            tokens = self._burst
        else:
            tokens, seen = entry
            tokens = min(self._burst, tokens + max(0.0, now - seen) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate
