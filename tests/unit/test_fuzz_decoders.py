"""Hypothesis on the parse paths: any bytes or any JSON value is counted, or refused with a 4xx in
Census's words; never an exception of another kind."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.record import decode_record
from services.ingest.validate import Rejection, parse_json_batch, parse_ndjson_batch, parse_ping

CATALOGS = load_catalogs()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
ping_like = st.fixed_dictionaries(
    {},
    optional={
        "product": st.sampled_from([*CATALOGS.products, "nope", "Pulse", ""]) | json_values,
        "install_id": st.uuids().map(str) | json_values,
        "event": st.sampled_from(["startup", "heartbeat", "install", "x"]) | json_values,
        "version": st.text(max_size=70) | json_values,
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


def accept_or_explain(body: bytes) -> None:
    try:
        checked = parse_ping(body, CATALOGS)
    except Rejection as rejection:
        assert 400 <= rejection.status < 500
        assert rejection.path.startswith("$")
        assert rejection.reason
        return
    (ping,) = checked.pings
    catalog = CATALOGS.get(ping.product)
    assert catalog is not None
    assert set(ping.attrs) <= set(catalog.attrs) and set(ping.counts) <= set(catalog.counts)
    assert set(checked.reasons) == set(checked.dropped_fields)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(ping_like)
def test_any_ping_shaped_object_is_accepted_or_explained(obj: dict[str, Any]) -> None:
    accept_or_explain(json.dumps(obj).encode())


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_is_accepted_or_explained(obj: Any) -> None:
    accept_or_explain(json.dumps(obj).encode())


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_accepted_or_explained(body: bytes) -> None:
    accept_or_explain(body)


@settings(max_examples=300)
@given(st.lists(ping_like, max_size=4))
def test_any_batch_is_accepted_or_explained(items: list[dict[str, Any]]) -> None:
    body = json.dumps(items).encode()
    for parse in (parse_json_batch, parse_ndjson_batch):
        data = (
            body if parse is parse_json_batch else b"\n".join(json.dumps(i).encode() for i in items)
        )
        try:
            checked = parse(data, CATALOGS, max_count=3)
        except Rejection as rejection:
            assert 400 <= rejection.status < 500 and rejection.reason
        else:
            assert 0 < len(checked.pings) <= 3


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_kafka_value_decodes_or_raises_a_msgspec_error(value: bytes) -> None:
    try:
        decode_record(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
