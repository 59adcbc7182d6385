"""The log2 histogram of count values: bucket 0 holds 0, bucket b holds [2^(b-1), 2^b)."""

from __future__ import annotations

from typing import Final

from schemas.ping import MAX_COUNT

BUCKETS: Final = MAX_COUNT.bit_length() + 1  # 41: 10^12 < 2^40


def bucket(value: int) -> int:
    return value.bit_length()


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) of a bucket."""
    if index == 0:
        return (0, 1)
    return (1 << (index - 1), 1 << index)


def quantile(histogram: list[int], q: float, lo: int, hi: int) -> float | None:
    """The q-quantile estimated from the histogram, clamped to [lo, hi] (the same rule as SQL).

    The true value lies in the same bucket, so the estimate is off by less than a factor of 2;
    inside a bucket values are assumed evenly spread.
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, n in enumerate(histogram):
        if n and seen + n >= rank:
            low, high = bucket_bounds(index)
            estimate = low + (high - low) * ((rank - seen) / n)
            return float(min(max(estimate, lo), hi))
        seen += n
    return float(hi)
