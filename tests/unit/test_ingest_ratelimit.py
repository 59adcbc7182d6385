"""The per-client token buckets: refill by the injected clock, a bounded and expiring table."""

from __future__ import annotations

from services.ingest.ratelimit import RateLimiter


def test_burst_then_refill_at_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3.0, capacity=10)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == 0.5
    assert limiter.take("a", 0.25) == 0.25
    assert limiter.take("a", 0.5) == 0.0
    assert limiter.take("b", 0.5) == 0.0  # another client has its own bucket


def test_idle_buckets_expire_once_full_again() -> None:
    limiter = RateLimiter(rate=1.0, burst=5.0, capacity=10)
    limiter.take("a", 0.0)
    limiter.take("b", 3.0)
    assert len(limiter) == 2
    limiter.take("c", 5.5)  # "a" has been idle for 5 s: full, forgotten
    assert len(limiter) == 2
    limiter.take("d", 100.0)
    assert len(limiter) == 1


def test_table_is_bounded_least_recent_first() -> None:
    limiter = RateLimiter(rate=0.001, burst=1.0, capacity=3)
    for key in "abc":
        assert limiter.take(key, 0.0) == 0.0
    assert limiter.take("a", 1.0) > 0  # "a" is now the most recent
    limiter.take("d", 1.0)
    assert len(limiter) == 3
    # "b" was forgotten (a fresh bucket), "a" was kept (still limited)
    assert limiter.take("b", 1.0) == 0.0
    assert limiter.take("a", 1.0) > 0


def test_rate_zero_disables() -> None:
    limiter = RateLimiter(rate=0.0, burst=1.0, capacity=3)
    assert not limiter.enabled
    assert all(limiter.take("a", 0.0) == 0.0 for _ in range(100))
    assert len(limiter) == 0
