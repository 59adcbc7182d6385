"""From request bytes to countable pings, or a Rejection naming the path and the rule. Pure.

Two ways in, one set of rules: a body that decodes straight into the canonical Struct and that
the catalog takes as it is (`schemas.reader.is_clean`) is done; anything else is decoded untyped
and read field by field by the tolerant reader (`schemas.reader.read_ping`), which decides what
is kept, replaced or dropped, and words every refusal. tests/unit/test_ingest_fastdecode.py
holds the two to the same answer.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import msgspec

from schemas import jsonerrors
from schemas.catalog import Catalogs
from schemas.ping import Ping
from schemas.reader import OUT_OF_RANGE, Drop, DropCode, OutOfRange, ReadPing, Unreadable, read_ping
from schemas.record import SCHEMA_VERSION, PingRecord
from services.ingest import fastdecode, quickjson
from services.ingest.duplicates import repeated_key
from services.ingest.retryid import RetryIds

_LONGEST_INT: Final = quickjson.LONGEST_INT
"""Digits of the longest integer converted; any longer is out of range for every count (≤ 10^12)
and would cost quadratic time to convert."""


@dataclass(frozen=True, slots=True)
class Rejection(Exception):
    """The body cannot be accepted: HTTP `status`, an `error` code from a fixed set, where, why."""

    status: int
    error: str
    path: str
    reason: str
    product: str | None = None
    """The product the refused ping claims, where the body got far enough to say (for metrics)."""

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "path": self.path, "reason": self.reason}


# A Struct, not a frozen dataclass: one is made per request, and a frozen dataclass's __init__
# (object.__setattr__ per field) cost 0.8 us of it.
class Checked(msgspec.Struct, frozen=True):
    """Countable pings, and the fields that were dropped or replaced on the way (with why)."""

    pings: list[Ping]
    dropped_fields: list[str]
    reasons: dict[str, str] = {}
    """`dropped_fields` entry → why (the first reason seen in a batch)."""
    drops: tuple[tuple[str, DropCode], ...] = ()
    """(product, why) for each dropped field of each ping: the metric's labels."""
    undeclared: tuple[tuple[str, uuid.UUID, str], ...] = ()
    """(product, install id, field name) for each undeclared field (services.ingest.undeclared)."""


def collect(reads: Sequence[ReadPing], *, rename: dict[str, str] | None = None) -> Checked:
    """The pings the reader made, with every drop listed once (under `rename`d names, if given)."""
    reasons: dict[str, str] = {}
    drops: list[tuple[str, DropCode]] = []
    undeclared: list[tuple[str, uuid.UUID, str]] = []
    for read in reads:
        ping = read.ping
        for drop in read.drops:
            name = rename.get(drop.field, drop.field) if rename else drop.field
            reasons.setdefault(name, drop.reason)
            drops.append((ping.product, drop.code))
            if drop.code is DropCode.UNDECLARED:
                undeclared.append((ping.product, ping.install_id, name))
    pings = [read.ping for read in reads]
    return Checked(pings, list(reasons), reasons, tuple(drops), tuple(undeclared))


def unreadable(exc: Unreadable, prefix_reason: str = "") -> Rejection:
    return Rejection(422, exc.error, exc.path, prefix_reason + exc.reason, exc.product)


# --- untyped decoding, for everything the quick path does not take ---------------------------


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _NotJson(Exception):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return result


def _bounded_int(text: str) -> int | OutOfRange:
    return int(text) if len(text.lstrip("-")) <= _LONGEST_INT else OUT_OF_RANGE


def _no_constants(_name: str) -> NoReturn:
    raise _NotJson  # NaN and Infinity are not JSON


_REPEATED: Final = "appears twice in one object"


def _repeated(key: str, prefix: str) -> Rejection:
    return Rejection(400, "invalid_json", prefix, f"the key '{jsonerrors.shown(key)}' {_REPEATED}")


def is_repeated_key(rejection: Rejection) -> bool:
    """The 400 of a well-formed body that repeats a key (no repair can make it acceptable)."""
    return rejection.status == 400 and rejection.reason.endswith(_REPEATED)


def decode_untyped(body: bytes, prefix: str = "$") -> Any:
    """The body as untyped JSON; a repeated key, bad UTF-8 or bad JSON is a 400 in our words."""
    quick = quickjson.decode(body)
    return decode_exact(body, prefix) if quick is quickjson.NOT_QUICK else quick


def decode_exact(body: bytes, prefix: str = "$") -> Any:
    """decode_untyped's rules, by Python's scanner with hooks (what quickjson must equal)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = jsonerrors.not_utf8(body, exc.start)
        raise Rejection(400, "invalid_json", prefix, problem.reason) from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_repeats,
            parse_int=_bounded_int,
            parse_constant=_no_constants,
        )
    except _Repeated as repeat:
        raise _repeated(repeat.key, prefix) from None
    except RecursionError:
        raise Rejection(
            400,
            "invalid_json",
            prefix,
            "the JSON nests arrays and objects deeper than Census reads",
        ) from None
    except (_NotJson, ValueError):  # JSONDecodeError is a ValueError
        raise Rejection(400, "invalid_json", prefix, jsonerrors.reason(body)) from None


def _read(raw: Any, catalogs: Catalogs, path: str, reason_prefix: str = "") -> ReadPing:
    try:
        return read_ping(raw, catalogs, path=path)
    except Unreadable as exc:
        raise unreadable(exc, reason_prefix) from None


def _refuse_repeated_keys(body: bytes, pings: list[Ping], prefix: str = "$") -> None:
    key = repeated_key(body, pings)
    if key is not None:
        raise _repeated(key, prefix)


# --- the three body shapes ----------------------------------------------------------------------


def parse_ping(body: bytes, catalogs: Catalogs) -> Checked:
    """One JSON ping; raises Rejection."""
    fast = fastdecode.decode_ping(body, catalogs)
    if fast is not None:
        _refuse_repeated_keys(body, fast)
        return Checked(fast, [])
    return collect([_read(decode_untyped(body), catalogs, "$")])


def _too_many(max_count: int) -> Rejection:
    return Rejection(413, "too_many", "$", f"a batch holds at most {max_count} pings")


def _empty() -> Rejection:
    return Rejection(422, "invalid_ping", "$", "a batch holds at least one ping")


def parse_json_batch(body: bytes, catalogs: Catalogs, *, max_count: int) -> Checked:
    """A JSON array of pings; all or nothing; raises Rejection."""
    fast = fastdecode.decode_pings(body, catalogs)
    if fast is not None and 0 < len(fast) <= max_count:
        _refuse_repeated_keys(body, fast)
        return Checked(fast, [])
    raw = decode_untyped(body)
    if not isinstance(raw, list):
        raise Rejection(422, "invalid_ping", "$", "expected a JSON array of pings")
    if len(raw) > max_count:
        raise _too_many(max_count)
    if not raw:
        raise _empty()
    return collect([_read(item, catalogs, f"$[{index}]") for index, item in enumerate(raw)])


def parse_ndjson_batch(body: bytes, catalogs: Catalogs, *, max_count: int) -> Checked:
    """One JSON ping per line (blank lines ignored); paths are `$[line index]`; raises Rejection."""
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) > max_count:
        raise _too_many(max_count)
    if not lines:
        raise _empty()
    reads: list[ReadPing] = []
    for index, line in enumerate(lines):
        prefix = f"$[{index}]"
        fast = fastdecode.decode_ping(line, catalogs)
        if fast is not None:
            _refuse_repeated_keys(line, fast, prefix)
            reads.extend(ReadPing(ping, ()) for ping in fast)
            continue
        try:
            raw = decode_untyped(line, prefix)
        except Rejection as rejection:
            raise Rejection(
                rejection.status, rejection.error, prefix, f"line {index + 1}: {rejection.reason}"
            ) from None
        reads.append(_read(raw, catalogs, prefix, f"line {index + 1}: "))
    return collect(reads)


def to_record(ping: Ping, received_at: dt.datetime, retry_ids: RetryIds) -> PingRecord:
    """The Kafka record: the checked ping and the server's time; nothing about the request.
    A ping without `ping_id` gets one derived from its content (services/ingest/retryid.py)."""
    return PingRecord(
        schema=SCHEMA_VERSION,
        received_at=received_at,
        product=ping.product,
        install_id=ping.install_id,
        event=ping.event,
        version=ping.version,
        platform=ping.platform,
        os=ping.os,
        arch=ping.arch,
        sent_at=ping.sent_at,
        ping_id=ping.ping_id or retry_ids.derive(ping),
        attrs=ping.attrs,
        counts=ping.counts,
        id_derived=ping.ping_id is None,
    )


__all__ = ["Checked", "Drop", "Rejection", "collect", "decode_untyped", "parse_ping", "to_record"]
