"""`census explain PRODUCT FILE|-`: what ingest would keep, derive and drop of one payload, and
whether it would accept it. The server-side twin of Pulse's "Preview payload".

It runs the very functions ingest runs (the compat adapter of the product's route, or
`parse_ping` for the canonical body), so its answer is ingest's. Only field names, reasons and
the values Census would publish are printed: a dropped value is never echoed.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas.catalog import Catalogs, load_catalogs
from schemas.compat import CompatMapping, Fate, FieldMapping
from schemas.ping import Ping
from services.common.settings import SettingsError, load
from services.ingest.compat.common import CompatContext, present
from services.ingest.compat.registry import ROUTES, CompatRoute
from services.ingest.config import IngestSettings
from services.ingest.validate import Checked, Rejection, parse_ping

CANONICAL: Final = "/v1/ping"
_ENVELOPE: Final = (
    "install_id",
    "event",
    "version",
    "platform",
    "os",
    "arch",
    "sent_at",
    "ping_id",
)
FILLED: Final = "filled"
"""Not sent by the product: Census filled the envelope field itself."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the answer: a Census field (or a dropped upstream one) and where it came from."""

    field: str
    fate: str
    source: str
    note: str
    value: object = None


@dataclass(frozen=True, slots=True)
class Explanation:
    route: str
    product: str
    accepted: bool
    rows: tuple[Row, ...]
    refusal: Rejection | None = None


def route_for(product: str, path: str | None = None) -> CompatRoute | None:
    """The compat route ingest would serve this payload on: `path` if given, else the product's
    first route (what the product itself sends). None for the canonical /v1/ping."""
    if path == CANONICAL:
        return None
    for route in ROUTES:
        if route.mapping.product == product and (path is None or route.path == path):
            return route
    known = ", ".join(r.path for r in ROUTES if r.mapping.product == product) or "none"
    raise ValueError(f"no route {path or ''} for product {product!r} (its routes: {known})")


def _published(ping: Ping) -> Iterator[tuple[str, object]]:
    for name in _ENVELOPE:
        value = getattr(ping, name)
        if value is not None:
            yield name, value
    for key, attr in ping.attrs.items():
        yield f"attrs.{key}", attr
    for key, count in ping.counts.items():
        yield f"counts.{key}", count


def _source(mapping: CompatMapping, target: str, raw: Any) -> FieldMapping | str | None:
    """Where `target` came from in this body: the mapping row of an upstream field the body
    carries (several may feed one target), else a passthrough key of the same name."""
    rows = [row for row in mapping.fields if target in row.targets]
    for row in rows:
        if present(raw, row.upstream):
            return row
    key = target.partition(".")[2]
    if mapping.passthrough and key and isinstance(raw, dict) and key in raw:
        return key
    return rows[0] if rows else None


def _kept_row(target: str, value: object, mapping: CompatMapping | None, raw: Any) -> Row:
    if mapping is None:
        return Row(target, Fate.KEPT.value, target, "", value)
    source = _source(mapping, target, raw)
    if source is None:
        return Row(target, FILLED, "—", "the product does not send it", value)
    if isinstance(source, str):
        return Row(target, Fate.KEPT.value, source, "", value)
    return Row(target, source.fate.value, source.upstream, source.note, value)


def _dropped_row(name: str, reason: str | None, mapping: CompatMapping | None) -> Row:
    """A dropped field with why: the mapping's own note for a field dropped by design (it says
    what the field would reveal), else the reason ingest answers beside `dropped_fields`."""
    row = mapping.row(name) if mapping is not None else None
    if row is not None and row.fate is Fate.DROPPED:
        return Row(name, Fate.DROPPED.value, name, row.note)
    return Row(name, Fate.DROPPED.value, name, reason or "not kept")


def _untyped(body: bytes) -> Any:
    """The body as JSON, to see which upstream fields it carries; None when only the adapter's
    repairs made it JSON (a Proxmox report with `32G`): the mapping's first source is named."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def explain(
    body: bytes, product: str, route: CompatRoute | None, catalogs: Catalogs, id_key: bytes
) -> Explanation:
    """Run ingest's parse for this route on `body` and describe the outcome field by field."""
    path = CANONICAL if route is None else route.path
    mapping = None if route is None else route.mapping
    try:
        checked: Checked = (
            parse_ping(body, catalogs)
            if route is None
            else route.adapt(body, CompatContext(catalogs, id_key))
        )
    except Rejection as refusal:
        return Explanation(path, product, False, (), refusal)
    raw = _untyped(body) if mapping is not None else None
    rows = [_kept_row(t, v, mapping, raw) for ping in checked.pings for t, v in _published(ping)]
    rows += [
        _dropped_row(name, checked.reasons.get(name), mapping) for name in checked.dropped_fields
    ]
    return Explanation(path, product, True, tuple(rows))


def _value(value: object) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if not isinstance(value, bool) else text.lower()


def render(explanation: Explanation) -> str:
    """The answer as an operator reads it: the verdict, then every field with its fate."""
    lines = [f"{explanation.product}: POST {explanation.route}"]
    if explanation.refusal is not None:
        refusal = explanation.refusal
        lines.append(
            f"refused: {refusal.status} {refusal.error} at {refusal.path}: {refusal.reason}"
        )
        return "\n".join(lines) + "\n"
    lines.append("accepted: 202 (once the broker acknowledges)")
    for fate in (Fate.KEPT.value, Fate.DERIVED.value, FILLED, Fate.DROPPED.value):
        rows = [row for row in explanation.rows if row.fate == fate]
        if not rows:
            continue
        lines += ["", f"{fate}:"]
        width = max(len(row.field) for row in rows)
        for row in rows:
            if fate == Fate.DROPPED.value:
                lines.append(f"  {row.field:<{width}}  {row.note}")
                continue
            same = row.source in (row.field, row.field.partition(".")[2], "—")
            origin = "" if same else f"  <- {row.source}"
            note = f"  ({row.note})" if row.note else ""
            lines.append(f"  {row.field:<{width}} = {_value(row.value)}{origin}{note}")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="census explain",
        description="Show what ingest would keep, derive and drop of one payload, and whether it "
        "would accept it. Nothing is sent anywhere. CENSUS_INGEST_ID_SECRET is read so keyed "
        "install ids are the ones ingest would publish.",
    )
    parser.add_argument("product", help="product slug, e.g. pulse, novu, proxmox-scripts")
    parser.add_argument("file", help="the payload as the product sends it; - reads stdin")
    parser.add_argument(
        "--route",
        default=None,
        help=f"the endpoint it is posted to (default: the product's own; {CANONICAL} for a "
        "canonical ping)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        id_key = load(IngestSettings).id_secret.encode()
    except SettingsError as exc:
        # A preview needs no production secret: keyed ids are then not the ones ingest publishes.
        id_key = secrets.token_bytes(32)
        print(
            f"census explain: {exc}; keyed install ids below use a throwaway key, not ingest's",
            file=sys.stderr,
        )
    catalogs = load_catalogs()
    if catalogs.get(args.product) is None:
        print(
            f"census explain: unknown product {args.product!r}; known: "
            + ", ".join(catalogs.products),
            file=sys.stderr,
        )
        return 2
    try:
        route = route_for(args.product, args.route)
    except ValueError as exc:
        print(f"census explain: {exc}", file=sys.stderr)
        return 2
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"census explain: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    result = explain(body, args.product, route, catalogs, id_key)
    sys.stdout.write(render(result))
    return 0 if result.accepted else 1
