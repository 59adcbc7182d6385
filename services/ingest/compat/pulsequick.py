"""Pulse's quick path: a body its catalog takes exactly as it is, typed straight from its bytes.

The tolerant path (`pulse.adapt`) decodes a body untyped and routes each of its keys through
Python: for a schema-10 heartbeat (154 keys) that was most of the route's time. Here a Struct
generated once per catalog, from the key routing and the reader's Rules, decodes the body in one
C call: an undeclared key, a value of another type, outside its list or above its count's limit
fails the decode, and the tolerant path answers instead. What the decode cannot say is checked
after it, by the same rules:
- a repeated key (msgspec keeps the last copy): in a body without a backslash every key and every
  string value is one pair of `"`, so the body repeats nothing if it holds as many `"` as the
  decoded keys and strings need; a null is decoded as absent, so a body with one goes the
  tolerant way too;
- a key sent under both its Pulse name and its catalog name (which one wins is the tolerant
  path's rule, not repeated here);
- string attrs' patterns, the envelope (`Rules.allows_envelope`) and `sent_at`
  (`schemas.reader.read_time`).
None means "ask the tolerant path"; tests/unit/test_compat_quick.py holds both to one answer.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec

from schemas.catalog import Catalog, per_catalog
from schemas.ping import UNKNOWN, Arch, AttrText, ShortText, Version
from schemas.ping import Ping as CanonicalPing
from schemas.reader import Rules, read_time, rules_of
from services.ingest.compat.common import CompatContext, install_uuid
from services.ingest.compat.pulseroutes import routes_of

PRODUCT: Final = "pulse"
_OPTIONAL: Final[tuple[tuple[str, Any], ...]] = (
    ("version", Version),
    ("platform", ShortText),
    ("os", ShortText),
    ("arch", Arch),
    ("sent_at", str),  # read by the reader's read_time, as the tolerant path has it read
)
"""The envelope's optional keys as the canonical Ping constrains them; install_id and event,
required strings, come first, then these, in this order."""
_ENVELOPE: Final = 2 + len(_OPTIONAL)
_DECODE_ERRORS: Final = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)


def _attr_type(rules: Rules, name: str) -> Any:
    """The type that takes exactly the values the reader keeps as they are (patterns aside)."""
    if name in rules.bools:
        return bool
    if name in rules.enums:
        return Literal[tuple(sorted(rules.enums[name]))]
    return AttrText  # a string attr: its pattern is matched after the decode


def _count_type(rules: Rules, name: str) -> Any:
    return Annotated[int, msgspec.Meta(ge=0, le=rules.count_max[name])]


@dataclass(frozen=True, slots=True)
class _Layout:
    """One catalog's quick decoder and where each value lands in its Struct."""

    decoder: msgspec.json.Decoder[Any]
    attrs: type[msgspec.Struct]
    """attrs as a Struct: one field per catalog name, nulls omitted when turned into a dict, in
    sorted order (the derived ping id's sorted encoding then finds the keys in order: 1.6 us less
    on a schema-10 heartbeat)."""
    counts: type[msgspec.Struct]
    attr_values: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    """The decoded attr values in `attrs`'s (sorted) order, in C."""
    count_values: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    quoted: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    """The decoded values of the attrs that take strings (a pattern or a list), in C."""
    patterns: tuple[tuple[int, re.Pattern[str]], ...]
    """(index among `quoted`, pattern) of each string attr."""
    rules: Rules

    @classmethod
    def of(cls, catalog: Catalog) -> _Layout:
        rules, routes = rules_of(catalog), routes_of(catalog)
        # Each catalog name under Pulse's own spelling (the renamed key, where there is one). A
        # catalog name sent as such is not a field here: the decode fails, and the tolerant
        # path decides which spelling wins.
        spelling = {routes.target(key): key for key in routes.attrs | routes.counts}
        spelling |= {target: key for key, target in routes.renamed.items()}
        # In the catalog's order, which is the order Pulse sends its keys in: msgspec decodes
        # keys that come in field order fastest (sorting the fields cost 2.5 us a heartbeat).
        attr_names = [name for name in catalog.attrs if name in spelling]
        count_names = [name for name in catalog.counts if name in spelling]
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
            ("install_id", str),
            ("event", str),
            *((name, kind | None, None) for name, kind in _OPTIONAL),
        ]
        fields += [
            (
                f"a{i}",
                _attr_type(rules, name) | None,
                msgspec.field(default=None, name=spelling[name]),
            )
            for i, name in enumerate(attr_names)
        ]
        fields += [
            (
                f"c{i}",
                _count_type(rules, name) | None,
                msgspec.field(default=None, name=spelling[name]),
            )
            for i, name in enumerate(count_names)
        ]
        strict = msgspec.defstruct(
            "PulseQuickBody", fields, forbid_unknown_fields=True, frozen=True, gc=False
        )
        return cls(
            decoder=msgspec.json.Decoder(strict),
            attrs=_view("PulseQuickAttrs", sorted(attr_names)),
            counts=_view("PulseQuickCounts", sorted(count_names)),
            attr_values=_picker(_sorted_positions(attr_names, _ENVELOPE)),
            count_values=_picker(_sorted_positions(count_names, _ENVELOPE + len(attr_names))),
            quoted=_picker(
                [_ENVELOPE + i for i, n in enumerate(attr_names) if n not in rules.bools]
            ),
            patterns=tuple(
                (i, rules.strings[name])
                for i, name in enumerate(n for n in attr_names if n not in rules.bools)
                if name in rules.strings
            ),
            rules=rules,
        )


def _sorted_positions(names: list[str], first: int) -> list[int]:
    """Where each of `names` (decoded from position `first` on) is, in the names' sorted order."""
    return [first + index for _, index in sorted((name, i) for i, name in enumerate(names))]


def _picker(indices: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The values at `indices` of a tuple, as a tuple (of one or none, too)."""
    if len(indices) > 1:
        return operator.itemgetter(*indices)
    return lambda values: tuple(values[i] for i in indices)


def _view(name: str, names: list[str]) -> type[msgspec.Struct]:
    """A Struct of optional fields named as the catalog: `to_builtins` makes it the dict of the
    values sent (omit_defaults leaves out the nulls), in C."""
    fields = [(f"v{i}", Any, msgspec.field(default=None, name=n)) for i, n in enumerate(names)]
    return msgspec.defstruct(name, fields, omit_defaults=True, frozen=True, gc=False)


_layout: Final = per_catalog(_Layout.of)
"""The quick-path layout of a Pulse catalog, made once per Catalog."""


def ping(body: bytes, ctx: CompatContext, catalog: Catalog) -> CanonicalPing | None:
    """The ping the tolerant path would make of `body` with nothing dropped; None: ask it."""
    if b"\\" in body:
        return None  # an escape: a `"` may then be inside a string, and the count says nothing
    layout = _layout(catalog)
    try:
        decoded = layout.decoder.decode(body)
    except _DECODE_ERRORS:
        return None
    values = msgspec.structs.astuple(decoded)
    install, event, version, platform, os_, arch, sent = values[:_ENVELOPE]
    quoted = layout.quoted(values)
    # The dicts of the values sent (nulls left out), in C; their sizes count the keys sent.
    attrs = msgspec.to_builtins(layout.attrs(*layout.attr_values(values)))
    counts = msgspec.to_builtins(layout.counts(*layout.count_values(values)))
    envelope = _ENVELOPE - (version, platform, os_, arch, sent).count(None)
    keys = envelope + len(attrs) + len(counts)
    strings = envelope + len(quoted) - quoted.count(None)
    if body.count(b'"') != 2 * (keys + strings):
        return None  # a repeated key or a null: the tolerant path says what it means
    for index, pattern in layout.patterns:
        text = quoted[index]
        if text is not None and pattern.fullmatch(text) is None:
            return None
    moment = None
    if sent is not None:
        moment = read_time(sent)
        if moment is None:
            return None
    if not install.strip():
        return None
    quick = CanonicalPing(
        product=PRODUCT,
        install_id=install_uuid(ctx, PRODUCT, install, keep_uuid=True),
        event=event,
        version=UNKNOWN if version is None else version,
        platform=UNKNOWN if platform is None else platform,
        os=UNKNOWN if os_ is None else os_,
        arch=UNKNOWN if arch is None else arch,
        sent_at=moment,
        attrs=attrs,
        counts=counts,
    )
    return quick if layout.rules.allows_envelope(quick) else None
