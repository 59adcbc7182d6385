"""The compat routes' quick paths change nothing: every adapter, on the clients' own bodies and
on those bodies with each top-level value made wrong, answers (and publishes) exactly as it does
with the quick JSON decoder, the quick ping conversion and the typed decodes switched off."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.reader import read_ping
from services.ingest import fastdecode, quickjson
from services.ingest.compat import common, pulsequick, typed
from services.ingest.compat.common import CompatContext
from services.ingest.compat.registry import ROUTES
from services.ingest.retryid import RetryIds
from tests.support import compat
from tests.support.compat import adapt_outcome

CATALOGS = load_catalogs()
_PULSE = CATALOGS.get("pulse")
assert _PULSE is not None
CONTEXT = CompatContext(CATALOGS, b"quick-path-test-secret")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LONG_FRACTION: Final = "2026-11-20T10:00:00." + "1" * 25 + "Z"
WRONG: tuple[Any, ...] = (
    None,
    "x" * 70,
    -1,
    {"a": 1},
    10**21,
    2**63,
    -(2**63) - 1,
    LONG_FRACTION,
)
"""Each top-level value replaced by these in turn; the integers are past what the untyped
decoders convert (10**21) and just past int64, where typed twins stop (2**63, -(2**63) - 1); the
time holds a run of digits longer than quickjson.LONGEST_INT inside a string, which a twin of
bounded numbers reads without looking for long runs."""
RETRY_IDS = RetryIds("quick-path-test-secret")
RECEIVED_AT = dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC)


SUPPORT_BODIES = {
    "support/maestrohub_body": compat.maestrohub_body,
    "support/novu_beacon_body": compat.novu_beacon_body,
    "support/novu_usage_body": compat.novu_usage_body,
    "support/novu_wrapped_body": compat.novu_wrapped_body,
}
"""The routes no client fixture shows, by tests/support/compat.py's bodies."""


def _sources() -> Iterator[tuple[str, Any]]:
    for path in sorted(FIXTURES.glob("*/*.json")):
        yield f"{path.parent.name}/{path.name}", json.loads(path.read_bytes())
    for name, make in SUPPORT_BODIES.items():
        yield name, make()


def _bodies() -> Iterator[tuple[str, bytes]]:
    for name, raw in _sources():
        yield name, json.dumps(raw).encode()
        yield name + " +unknown", json.dumps({**raw, "not_a_field": "x"}).encode()
        if isinstance(raw, dict):
            for key in raw:
                for index, wrong in enumerate(WRONG):
                    yield f"{name} {key}={index}", json.dumps({**raw, key: wrong}).encode()
            first = next(iter(raw))
            body = json.dumps(raw).encode()
            yield (
                name + " repeated",
                body[:1] + json.dumps({first: raw[first]})[1:-1].encode() + b", " + body[1:],
            )
            yield from _nested(name, raw)


def _nested(name: str, raw: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """Each value one object deeper made wrong, null, unknown or repeated; and escapes."""
    for outer, inner in _objects(raw):
        label = f"{name} {'.'.join(outer)}"
        for key in list(inner):
            for index, wrong in enumerate((None, "x" * 70, {"a": 1}, [1], 10**21, 2**63)):
                yield f"{label}.{key}={index}", _dumps_with(raw, outer, {**inner, key: wrong})
            yield (
                f"{label}.{key} escaped",
                _dumps_with(raw, outer, inner).replace(
                    f'"{key}"'.encode(),
                    ('"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"').encode(),
                ),
            )
        yield f"{label} +unknown", _dumps_with(raw, outer, {**inner, "notAField": 1})
        if inner:
            first = next(iter(inner))
            repeated = json.dumps({first: inner[first]})[1:-1] + ", "
            whole = _dumps_with(raw, outer, {"@": 0, **inner}).decode()
            yield f"{label} repeated", whole.replace('"@": 0, ', repeated, 1).encode()


def _objects(raw: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, object) of every object nested in `raw`, its own top level excepted."""
    if not isinstance(raw, dict):
        return
    for key, value in raw.items():
        if isinstance(value, dict):
            yield (*path, key), value
            yield from _objects(value, (*path, key))


def _dumps_with(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> bytes:
    """`raw` as JSON with the object at `path` replaced by `value`."""
    copy = json.loads(json.dumps(raw))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(copy).encode()


BODIES = list(_bodies())


def _outcome(route: Any, body: bytes) -> tuple[str, Any]:
    return adapt_outcome(route.adapt, body, CONTEXT, RECEIVED_AT, RETRY_IDS)


def switch_off_quick_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every quick path declines: what remains is the tolerant path they shortcut."""
    monkeypatch.setattr(quickjson, "decode", lambda _body: quickjson.NOT_QUICK)
    monkeypatch.setattr(common, "convert_ping", lambda _fields, _catalogs: None)
    monkeypatch.setattr(pulsequick, "ping", lambda _body, _ctx, _catalog: None)
    monkeypatch.setattr(typed, "decode", lambda _body, _kind: None)


def test_the_quick_paths_answer_as_the_exact_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(BODIES) > 3000
    quick = {(r.path, name): _outcome(r, body) for r in ROUTES for name, body in BODIES}
    switch_off_quick_paths(monkeypatch)
    exact = {(r.path, name): _outcome(r, body) for r in ROUTES for name, body in BODIES}
    assert quick == exact
    # The comparison means something: most fixtures are accepted, some mutations refused.
    kinds = [kind for kind, _ in exact.values()]
    assert kinds.count("checked") > 100
    assert kinds.count("refused") > 100


def _taken_quickly(
    route: Any, body: bytes, monkeypatch: pytest.MonkeyPatch, module: Any, name: str
) -> bool:
    taken: list[bool] = []
    original = getattr(module, name)

    def spy(*args: Any) -> Any:
        result = original(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(module, name, spy)
    route.adapt(body, CONTEXT)
    return any(taken)


@pytest.mark.parametrize(
    ("route", "fixture", "quick_path"),
    [
        ("/compat/pulse/v1/telemetry/ping", "pulse/schema10-heartbeat-every-group.json", "pulse"),
        (
            "/compat/pulse/v1/telemetry/ping",
            "pulse/schema10-startup-no-optional-group.json",
            "pulse",
        ),
        ("/compat/proxmox-scripts/telemetry", "proxmox-scripts/lxc-installing.json", "convert"),
        ("/compat/flowfuse/ping", "flowfuse/ee.json", "convert"),
        ("/compat/proxmox-scripts/telemetry", "proxmox-scripts/lxc-installing.json", "typed"),
        ("/compat/flowfuse/ping", "flowfuse/ee.json", "typed"),
        ("/compat/novu/telemetry", "novu/regular-beacon.json", "typed"),
        ("/compat/novu/telemetry", "novu/user-info.json", "typed"),
        ("/compat/maestrohub/report", "support/maestrohub_body", "typed"),
        ("/compat/novu/beacon", "support/novu_beacon_body", "typed"),
        ("/compat/novu/usage", "support/novu_usage_body", "typed"),
    ],
)
def test_a_real_clients_body_takes_the_quick_path(
    route: str, fixture: str, quick_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_path = {r.path: r for r in ROUTES}
    if route not in by_path:
        pytest.fail(f"no route {route}: {sorted(by_path)}")
    if fixture in SUPPORT_BODIES:
        body = json.dumps(SUPPORT_BODIES[fixture]()).encode()
    else:
        body = (FIXTURES / fixture).read_bytes()
    module, name = {
        "pulse": (pulsequick, "ping"),
        "convert": (common, "convert_ping"),
        "typed": (typed, "decode"),
    }[quick_path]
    if quick_path == "convert":
        assert quickjson.decode(body) is not quickjson.NOT_QUICK
    assert _taken_quickly(by_path[route], body, monkeypatch, module, name)


_attr_values = st.one_of(
    st.booleans(), st.text(max_size=70), st.integers(), st.none(), st.sampled_from(["x", "6.0.0"])
)


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["version", "os", "arch", "platform", "sent_at", "ping_id"]),
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(
                [
                    "linux",
                    "amd64",
                    "6.0.0",
                    "2026-11-23T10:00:00.1234567Z",
                    "2026-11-23T10:00:00+02:00",
                    str(uuid.UUID(int=7)),
                ]
            ),
        ),
    ),
    st.dictionaries(
        st.sampled_from([*sorted(_PULSE.attrs)[:8], "nope"]),
        _attr_values,
        max_size=6,
    ),
    st.dictionaries(
        st.sampled_from([*sorted(_PULSE.counts)[:8], "nope"]),
        st.one_of(st.integers(min_value=-2, max_value=10**13), st.booleans(), st.floats()),
        max_size=6,
    ),
)
def test_a_converted_ping_is_the_one_the_reader_reads(
    envelope: dict[str, Any], attrs: dict[str, Any], counts: dict[str, Any]
) -> None:
    fields = {
        "product": "pulse",
        "install_id": uuid.UUID(int=1),
        "event": "heartbeat",
        **envelope,
        "attrs": attrs,
        "counts": counts,
    }
    quick = fastdecode.convert_ping(fields, CATALOGS)
    if quick is None:
        return
    read = read_ping(fields, CATALOGS)
    assert read.drops == ()
    assert msgspec.structs.asdict(quick) == msgspec.structs.asdict(read.ping)
