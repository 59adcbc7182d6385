"""Where each key of a Pulse body goes, per catalog: built once, read by both of Pulse's paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.catalog import Catalog, per_catalog
from schemas.compat import PULSE_RENAMED

ENVELOPE: Final = ("install_id", "event", "version", "platform", "os", "arch", "sent_at")
"""The keys of a Pulse body that fill the canonical ping's envelope."""
FIRST_SCHEMA: Final = ("license_tier", "api_tokens")
"""The first public schema's keys that later ones replaced by booleans (derived, never kept)."""
READ: Final = frozenset((*ENVELOPE, *FIRST_SCHEMA))


@dataclass(frozen=True, slots=True)
class PulseRoutes:
    """The keys a catalog routes into attrs and counts (the envelope's own keys excepted)."""

    attrs: frozenset[str]
    counts: frozenset[str]
    renamed: dict[str, str]
    """Sent key → catalog name, for the keys Census renames (PULSE_RENAMED)."""
    known: frozenset[str]
    """Every key read: the envelope's and the catalog's."""

    @classmethod
    def of(cls, catalog: Catalog) -> PulseRoutes:
        attrs: set[str] = set()
        counts: set[str] = set()
        renamed: dict[str, str] = {}
        for key in [*catalog.attrs, *catalog.counts, *PULSE_RENAMED]:
            target = PULSE_RENAMED.get(key)
            name = target.partition(".")[2] if target else key
            if key in READ:
                continue
            if name in catalog.attrs:
                attrs.add(key)
            elif name in catalog.counts:
                counts.add(key)
            else:
                continue
            if name != key:
                renamed[key] = name
        return cls(frozenset(attrs), frozenset(counts), renamed, READ | attrs | counts)

    def target(self, key: str) -> str:
        """The catalog name a routed key fills."""
        return self.renamed.get(key, key)


routes_of: Final = per_catalog(PulseRoutes.of)
"""The key routing of a Pulse catalog, made once per Catalog."""
