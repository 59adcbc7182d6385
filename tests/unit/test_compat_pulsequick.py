"""Pulse's typed quick path answers as the tolerant path it shortcuts, on generated bodies: any
mix of envelope, catalog, renamed, alias, first-schema and unknown keys, right and wrong values,
nulls, repeated keys, escapes and any spacing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from schemas.catalog import Catalog, load_catalogs
from schemas.compat import PULSE_RENAMED
from schemas.ping import MAX_COUNT
from services.ingest.compat import pulse, pulsequick
from services.ingest.compat.common import CompatContext
from services.ingest.compat.pulseroutes import FIRST_SCHEMA, READ, routes_of
from services.ingest.retryid import RetryIds
from tests.support.compat import adapt_outcome

CATALOGS = load_catalogs()
_PULSE = CATALOGS.get("pulse")
assert _PULSE is not None
CATALOG: Catalog = _PULSE
ROUTES = routes_of(CATALOG)
CONTEXT = CompatContext(CATALOGS, b"pulse-quick-test-secret")
RETRY_IDS = RetryIds("pulse-quick-test-secret")
RECEIVED_AT = dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC)
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pulse"
ALIASES = sorted(set(ROUTES.renamed.values()))
"""Catalog names of renamed keys: a body may send them under either spelling."""


def _outcome(body: bytes) -> tuple[str, Any]:
    return adapt_outcome(pulse.adapt, body, CONTEXT, RECEIVED_AT, RETRY_IDS)


def _both(body: bytes) -> tuple[bool, tuple[str, Any], tuple[str, Any]]:
    """(quick path taken?, the route's answer, the tolerant path's answer)."""
    taken = pulsequick.ping(body, CONTEXT, CATALOG) is not None
    quick = _outcome(body)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulsequick, "ping", lambda _body, _ctx, _catalog: None)
        tolerant = _outcome(body)
    return taken, quick, tolerant


def _attr_value(name: str, clean: bool) -> st.SearchStrategy[Any]:
    spec = CATALOG.attrs[name]
    if spec.type == "bool":
        right: st.SearchStrategy[Any] = st.booleans()
    elif spec.type == "enum":
        right = st.sampled_from(spec.values)
    else:
        right = st.just(spec.example)
    if clean:
        return right
    wrong: st.SearchStrategy[Any] = st.sampled_from(
        ["x" * 65, "Not Valid", "", 1, 0, None, 2.5, [], {"a": 1}, True]
    )
    return st.one_of(right, right, right, wrong)


def _count_value(name: str, clean: bool) -> st.SearchStrategy[Any]:
    limit = CATALOG.counts[name].max
    right = st.one_of(st.integers(min_value=0, max_value=limit), st.sampled_from([0, limit]))
    if clean:
        return right
    wrong = st.sampled_from([limit + 1, -1, 3.0, 2.5, True, "7", None, 10**25, MAX_COUNT])
    return st.one_of(right, wrong)


def _value(key: str, clean: bool) -> st.SearchStrategy[Any]:
    name = ROUTES.target(key)
    return _attr_value(name, clean) if name in CATALOG.attrs else _count_value(name, clean)


ENVELOPE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "install_id": st.one_of(
        st.uuids().map(str),
        st.uuids().map(str),
        st.sampled_from(["pulse-install-7", "", "  ", " 3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5b", 7]),
    ),
    "event": st.sampled_from(["heartbeat", "startup", "other", "Heartbeat", "nope", "", 1]),
    "version": st.sampled_from(
        ["6.3.0", "v6.3.0", " 6.3.0", "6.3.0-rc.1", "unknown", "", 6, "x" * 70]
    ),
    "platform": st.sampled_from(["docker", "binary", "Docker", "other", "unknown", "lxc", "", 1]),
    "os": st.sampled_from(["linux", "windows", "Linux", "plan9", "unknown", ""]),
    "arch": st.sampled_from(["amd64", "arm64", "AMD64", "sparc", "x" * 20, ""]),
    "sent_at": st.sampled_from(
        [
            "2026-11-20T10:02:11Z",
            "2026-11-20T10:02:11+02:00",
            "2026-11-20T10:02:11",
            "2026-11-20T10:02:11.1234567Z",
            "yesterday",
            1_790_000_000_000,
        ]
    ),
    "license_tier": st.sampled_from(["free", "pro", "nope", 3]),
    "api_tokens": st.sampled_from([0, 2, -1, "2"]),
}
CLEAN_ENVELOPE: dict[str, Any] = {
    "event": "heartbeat",
    "version": "6.3.0",
    "platform": "docker",
    "os": "linux",
    "arch": "amd64",
    "sent_at": "2026-11-20T10:02:11Z",
    "license_tier": "free",
    "api_tokens": 0,
}
KEYS = sorted(ROUTES.attrs | ROUTES.counts)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    clean = draw(st.booleans())  # every value one the catalog takes as it is, or any
    raw: dict[str, Any] = {"install_id": draw(ENVELOPE_VALUES["install_id"])}
    for key in ("event", "version", "platform", "os", "arch", "sent_at", *FIRST_SCHEMA):
        if key in FIRST_SCHEMA and clean:
            continue
        if draw(st.booleans()) or key == "event":
            wrong = not clean and draw(st.booleans())
            raw[key] = draw(ENVELOPE_VALUES[key]) if wrong else CLEAN_ENVELOPE[key]
    if draw(st.booleans()):
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=30, unique=True)):
            raw[key] = draw(_value(key, clean))
    else:  # mostly every key, as Pulse sends them
        for key in KEYS:
            if key not in ALIASES and draw(st.integers(0, 19)):
                raw[key] = draw(_value(key, clean))
    others = [*ALIASES, "not_a_field", "ping_id"]
    for key in draw(st.lists(st.sampled_from(others), max_size=0 if clean else 2)):
        raw[key] = draw(st.one_of(st.none(), st.just(True), st.just(4), st.just("x")))
    if draw(st.booleans()):
        items = list(raw.items())
        raw = dict(draw(st.permutations(items)))
    text = json.dumps(
        raw,
        indent=draw(st.sampled_from([None, 2])),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")])),
        ensure_ascii=draw(st.booleans()),
    )
    if draw(st.integers(0, 9)) == 0:  # a repeated key, same or other value
        key = draw(st.sampled_from(sorted(raw)))
        again = json.dumps({key: draw(st.sampled_from([raw[key], True, 1, "x"]))})[1:-1]
        text = "{" + again + ", " + text[1:]
    if draw(st.integers(0, 19)) == 0:
        text = text.replace('"heartbeat"', '"heart\\u0062eat"')  # an escape the same value
    return text.encode()


@settings(max_examples=400)
@given(bodies())
def test_the_typed_quick_path_answers_as_the_tolerant_path(body: bytes) -> None:
    taken, quick, tolerant = _both(body)
    event("quick path" if taken else "tolerant path")
    assert quick == tolerant
    if taken:
        kind, (_, _, dropped, *_) = quick
        assert kind == "checked" and dropped == []


def test_a_heartbeat_with_every_key_takes_the_quick_path() -> None:
    raw = json.loads((FIXTURE / "schema10-heartbeat-every-group.json").read_bytes())
    for spacing in ((",", ":"), (", ", ": ")):
        body = json.dumps(raw, separators=spacing).encode()
        taken, quick, tolerant = _both(body)
        assert taken
        assert quick == tolerant


@pytest.mark.parametrize(
    "change",
    [
        {"os": None},  # a null: its key's quotes are not counted
        {"not_a_field": 1},
        {ALIASES[0]: True},  # the catalog's spelling of a renamed key
        {"version": "v6.3.0"},  # the reader strips the v
        {"version_raw": "not-a-version"},  # a string attr outside its pattern
        {"sent_at": "2026-11-20 at ten"},
        {"install_id": "  "},
        {"license_tier": "pro"},
    ],
)
def test_what_the_decode_cannot_see_sends_the_body_the_tolerant_way(
    change: dict[str, Any],
) -> None:
    raw = json.loads((FIXTURE / "schema10-heartbeat-every-group.json").read_bytes())
    taken, quick, tolerant = _both(json.dumps({**raw, **change}).encode())
    assert not taken
    assert quick == tolerant


def test_a_repeated_key_is_refused_as_on_every_route() -> None:
    raw = json.loads((FIXTURE / "schema10-heartbeat-every-group.json").read_bytes())
    body = b'{"vms": 25, ' + json.dumps(raw).encode()[1:]
    taken, quick, tolerant = _both(body)
    assert not taken
    assert quick[0] == "refused" and quick == tolerant


def test_the_envelope_keys_are_the_documented_bodys() -> None:
    documented = {f.encode_name for f in msgspec.structs.fields(pulse.PulsePing)}
    assert documented == READ
    assert set(PULSE_RENAMED) <= ROUTES.attrs | ROUTES.counts
