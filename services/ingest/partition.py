"""The Kafka partition of a record key, exactly as Kafka's (and aiokafka's) default partitioner
chooses it, computed here so the producer need not: its per-record partitioner call was a tenth
of a batch request's time, half of it in a byte-at-a-time murmur2. Pure."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF
_WORDS: Final = {n: struct.Struct(f"<{n}I") for n in range(0, 17)}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data` (org.apache.kafka.common.utils.Utils.murmur2), as unsigned."""
    length = len(data)
    h = _SEED ^ length
    count = length // 4
    layout = _WORDS.get(count) or struct.Struct(f"<{count}I")
    for k in layout.unpack_from(data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = length & ~3
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h = ((h ^ data[base]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition of `key` among the topic's `partitions` (sorted by id)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
