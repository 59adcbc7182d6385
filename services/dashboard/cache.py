"""A small time-bounded cache of encoded answers, with their ETag. Pure but for the clock."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    body: bytes
    content_type: str
    etag: str
    expires: float


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class AnswerCache:
    """At most `entries` answers, each for `ttl_s` seconds; least recently used goes first."""

    def __init__(self, *, ttl_s: float, entries: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl_s
        self._max = entries
        self._clock = clock
        self._items: OrderedDict[str, Entry] = OrderedDict()

    def get(self, key: str) -> Entry | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return entry

    def put(self, key: str, body: bytes, content_type: str) -> Entry:
        entry = Entry(body, content_type, etag_of(body), self._clock() + self._ttl)
        self._items[key] = entry
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._items)
