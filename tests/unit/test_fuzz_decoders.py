"""Hypothesis on the decoders: any bytes or any JSON value is either a ping or a clean error."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.errors import decode_error, validation_error
from schemas.ping import PING_LIST_DECODER, Ping, decode_ping
from schemas.record import decode_record
from schemas.validation import CatalogViolation, check_ping

CATALOGS = load_catalogs()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
FIELDS = (
    "product",
    "install_id",
    "event",
    "version",
    "platform",
    "os",
    "arch",
    "sent_at",
    "ping_id",
    "attrs",
    "counts",
)
ping_like = st.fixed_dictionaries(
    {},
    optional={
        "product": st.sampled_from([*CATALOGS.products, "nope", "Pulse", ""]) | json_values,
        "install_id": st.uuids().map(str) | json_values,
        "event": st.sampled_from(["startup", "heartbeat", "install", "x"]) | json_values,
        "version": st.text(max_size=70),
        "platform": st.text(max_size=40),
        "os": st.text(max_size=40),
        "arch": st.text(max_size=20),
        "sent_at": st.datetimes().map(lambda d: d.isoformat() + "Z") | json_values,
        "ping_id": st.uuids().map(str) | json_values,
        "attrs": st.dictionaries(
            st.text(max_size=70), st.booleans() | st.text(max_size=70) | json_values
        ),
        "counts": st.dictionaries(st.text(max_size=70), st.integers() | json_values),
    },
)


def accept_or_explain(body: bytes, untyped: Any) -> None:
    try:
        ping = decode_ping(body)
    except msgspec.ValidationError as exc:
        error = validation_error(exc, untyped, Ping)
        assert error.path.startswith("$")
        assert error.reason
        return
    except msgspec.DecodeError as exc:
        assert decode_error(exc, body).reason
        return
    try:
        checked = check_ping(ping, CATALOGS)
    except CatalogViolation as exc:
        assert exc.path.startswith("$.")
        return
    assert set(checked.ping.attrs) <= set(ping.attrs)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(ping_like)
def test_any_ping_shaped_object_is_accepted_or_explained(obj: dict[str, Any]) -> None:
    accept_or_explain(json.dumps(obj).encode(), obj)


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_is_accepted_or_explained(obj: Any) -> None:
    accept_or_explain(json.dumps(obj).encode(), obj)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_accepted_or_explained(body: bytes) -> None:
    try:
        untyped = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        untyped = None
    accept_or_explain(body, untyped)


@settings(max_examples=300)
@given(st.lists(ping_like, max_size=4))
def test_any_batch_is_accepted_or_explained(items: list[dict[str, Any]]) -> None:
    try:
        PING_LIST_DECODER.decode(json.dumps(items).encode())
    except msgspec.ValidationError as exc:
        assert validation_error(exc, items, Ping).path.startswith("$[")


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_kafka_value_decodes_or_raises_a_msgspec_error(value: bytes) -> None:
    try:
        decode_record(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
