"""From request bytes to catalog-checked pings, or a Rejection naming the path and the rule. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from schemas.catalog import Catalogs
from schemas.errors import FieldError, decode_error, validation_error
from schemas.ping import PING_DECODER, PING_LIST_DECODER, Ping
from schemas.record import SCHEMA_VERSION, PingRecord
from schemas.validation import CatalogViolation, check_ping, is_clean
from services.ingest import fastdecode
from services.ingest.duplicates import repeated_key
from services.ingest.retryid import RetryIds

_ANY_JSON: Final = msgspec.json.Decoder()


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


@dataclass(frozen=True, slots=True)
class Checked:
    """Pings that passed their catalogs, and the undeclared fields removed from them."""

    pings: list[Ping]
    dropped_fields: list[str]


def _invalid_json(field: FieldError) -> Rejection:
    return Rejection(400, "invalid_json", field.path, field.reason)


def _not_utf8(exc: UnicodeDecodeError) -> Rejection:
    return Rejection(400, "invalid_json", "$", f"not UTF-8: invalid byte at byte {exc.start}")


def _prefixed(path: str, prefix: str) -> str:
    return prefix + path[1:] if prefix != "$" else path


def _typed_error(
    exc: msgspec.ValidationError, body: bytes, item_type: type[Any], prefix: str
) -> Rejection:
    """A typed decode failed: either the body is not JSON at all (400) or a field is wrong (422).

    msgspec validates while it parses, so `[1,2` reports a type error before the truncation;
    decoding untyped tells the two apart, and is needed anyway to name dict keys in the path.
    """
    try:
        untyped = _ANY_JSON.decode(body)
    except msgspec.DecodeError as decode_exc:
        field = decode_error(decode_exc, body)
        return Rejection(400, "invalid_json", prefix, field.reason)
    except UnicodeDecodeError as unicode_exc:
        return Rejection(400, "invalid_json", prefix, _not_utf8(unicode_exc).reason)
    except RecursionError:
        # The typed decode stopped at the first wrong type; the untyped one would recurse as
        # deep as the client nested. Nothing that deep is a ping.
        return Rejection(400, "invalid_json", prefix, "JSON nested too deeply to be a ping")
    field = validation_error(exc, untyped, item_type)
    return Rejection(
        422,
        "invalid_ping",
        _prefixed(field.path, prefix),
        field.reason,
        _claimed_product(untyped, field.path),
    )


def _claimed_product(untyped: Any, path: str) -> str | None:
    """The `product` string of the item the error path points into, if there is one."""
    item = untyped
    if path.startswith("$[") and isinstance(untyped, list):
        index = path[2 : path.index("]")]
        item = untyped[int(index)] if index.isdigit() and int(index) < len(untyped) else None
    product = item.get("product") if isinstance(item, dict) else None
    return product if isinstance(product, str) else None


def _catalog_error(exc: CatalogViolation, product: str) -> Rejection:
    if exc.path.endswith(".product"):
        return Rejection(422, "unknown_product", exc.path, exc.reason)
    error = "unknown_event" if exc.path.endswith(".event") else "invalid_ping"
    return Rejection(422, error, exc.path, exc.reason, product)


def _refuse_repeated_keys(body: bytes, pings: list[Ping], prefix: str = "$") -> None:
    key = repeated_key(body, pings)
    if key is not None:
        raise Rejection(400, "invalid_json", prefix, f"the key {key!r} appears twice in one object")


def _check(pings: list[Ping], catalogs: Catalogs, *, batch: bool) -> Checked:
    checked: list[Ping] = []
    dropped: dict[str, None] = {}
    for index, ping in enumerate(pings):
        if is_clean(ping, catalogs):
            checked.append(ping)
            continue
        try:
            result = check_ping(ping, catalogs, path=f"$[{index}]" if batch else "$")
        except CatalogViolation as exc:
            raise _catalog_error(exc, ping.product) from None
        checked.append(result.ping)
        for name in result.dropped_fields:
            dropped[name] = None
    return Checked(checked, list(dropped))


def _checked(fast: fastdecode.Decoded, catalogs: Catalogs, *, batch: bool) -> Checked:
    return Checked(fast.pings, []) if fast.clean else _check(fast.pings, catalogs, batch=batch)


def parse_ping(body: bytes, catalogs: Catalogs) -> Checked:
    """One JSON ping; raises Rejection."""
    fast = fastdecode.decode_ping(body, catalogs)
    if fast is not None:
        _refuse_repeated_keys(body, fast.pings)
        return _checked(fast, catalogs, batch=False)
    try:
        ping = PING_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _typed_error(exc, body, Ping, "$") from None
    except msgspec.DecodeError as exc:
        raise _invalid_json(decode_error(exc, body)) from None
    except UnicodeDecodeError as exc:  # msgspec raises it for bad UTF-8 inside a string
        raise _not_utf8(exc) from None
    _refuse_repeated_keys(body, [ping])
    return _check([ping], catalogs, batch=False)


def _too_many(max_count: int) -> Rejection:
    return Rejection(413, "too_many", "$", f"a batch holds at most {max_count} pings")


def _empty() -> Rejection:
    return Rejection(422, "invalid_ping", "$", "a batch holds at least one ping")


def parse_json_batch(body: bytes, catalogs: Catalogs, *, max_count: int) -> Checked:
    """A JSON array of pings; all or nothing; raises Rejection."""
    fast = fastdecode.decode_pings(body, catalogs)
    if fast is not None and 0 < len(fast.pings) <= max_count:
        _refuse_repeated_keys(body, fast.pings)
        return _checked(fast, catalogs, batch=True)
    try:
        pings = PING_LIST_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _typed_error(exc, body, Ping, "$") from None
    except msgspec.DecodeError as exc:
        raise _invalid_json(decode_error(exc, body)) from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from None
    if len(pings) > max_count:
        raise _too_many(max_count)
    if not pings:
        raise _empty()
    _refuse_repeated_keys(body, pings)
    return _check(pings, catalogs, batch=True)


def parse_ndjson_batch(body: bytes, catalogs: Catalogs, *, max_count: int) -> Checked:
    """One JSON ping per line (blank lines ignored); paths are `$[line index]`; raises Rejection."""
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) > max_count:
        raise _too_many(max_count)
    if not lines:
        raise _empty()
    pings: list[Ping] = []
    for index, line in enumerate(lines):
        prefix = f"$[{index}]"
        fast = fastdecode.decode_ping(line, catalogs)
        if fast is not None:
            _refuse_repeated_keys(line, fast.pings, prefix)
            pings.extend(fast.pings)
            continue
        try:
            ping = PING_DECODER.decode(line)
        except msgspec.ValidationError as exc:
            raise _typed_error(exc, line, Ping, prefix) from None
        except msgspec.DecodeError as exc:
            field = decode_error(exc, line)
            raise Rejection(
                400, "invalid_json", prefix, f"line {index + 1}: {field.reason}"
            ) from None
        except UnicodeDecodeError as exc:
            raise Rejection(
                400, "invalid_json", prefix, f"line {index + 1}: not UTF-8 at byte {exc.start}"
            ) from None
        _refuse_repeated_keys(line, [ping], prefix)
        pings.append(ping)
    return _check(pings, catalogs, batch=True)


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
