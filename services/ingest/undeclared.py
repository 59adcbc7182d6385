"""Which undeclared field *names* (never values) a product's clients send, so its catalog can
follow its clients. Pure: in memory, bounded, no install id kept.

A name is only ever shown once it has the shape of a field name (`NAME`) and was sent by at
least `min_installs` distinct installs: a name one install made up (a host name used as a key)
is never shown. Installs are told apart by a keyed 8-byte hash, so what is held is not an
install id either. What is held is per process and since its start; `GET /undeclared` on the
ops port shows it (docs/compat.md).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Final

NAME: Final = re.compile(r"[a-z][a-z0-9_]{1,47}(\.[a-z][a-z0-9_]{1,47}){0,2}")
"""A field name as the seed products spell theirs (`pulse_intelligence_x`, `platform.counts.x`)."""

MAX_NAMES: Final = 500
"""Names followed at once, over all products; a flood of made-up names cannot grow memory."""


class UndeclaredNames:
    def __init__(self, key: bytes, *, min_installs: int, max_names: int = MAX_NAMES) -> None:
        self._key = key
        self._min = min_installs
        self._max = max_names
        self._seen: dict[tuple[str, str], set[bytes]] = {}

    def _tag(self, install_id: uuid.UUID) -> bytes:
        return hashlib.blake2b(install_id.bytes, key=self._key[:64], digest_size=8).digest()

    def add(self, seen: Iterable[tuple[str, uuid.UUID, str]]) -> None:
        """(product, install id, field name) for each undeclared field of accepted pings."""
        for product, install_id, name in seen:
            if NAME.fullmatch(name) is None:
                continue
            tags = self._seen.get((product, name))
            if tags is None:
                if len(self._seen) >= self._max:
                    continue
                tags = self._seen[(product, name)] = set()
            if len(tags) < self._min:  # beyond k nothing more is shown, so nothing more is held
                tags.add(self._tag(install_id))

    def report(self) -> dict[str, list[str]]:
        """product → the undeclared names sent by at least `min_installs` installs, sorted."""
        shown: dict[str, list[str]] = {}
        for (product, name), tags in sorted(self._seen.items()):
            if len(tags) >= self._min:
                shown.setdefault(product, []).append(name)
        return shown
