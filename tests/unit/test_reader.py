"""The tolerant reader (DESIGN §3): only a ping that cannot be counted is refused; any other wrong
field costs that field, with a reason in Census's words; nothing free-form is kept."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import OTHER, load_catalogs
from schemas.ping import Ping
from schemas.reader import OUT_OF_RANGE, DropCode, Unreadable, read_ping, rules_of

CATALOGS = load_catalogs()
PULSE = CATALOGS.get("pulse")
assert PULSE is not None
INSTALL = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"


def _enum_attr() -> tuple[str, list[str]]:
    assert PULSE is not None
    for name, spec in PULSE.attrs.items():
        if spec.type == "enum":
            return name, spec.values
    raise AssertionError("pulse declares an enum attr")


def _bool_attr() -> str:
    assert PULSE is not None
    return next(name for name, spec in PULSE.attrs.items() if spec.type == "bool")


def _count() -> tuple[str, int]:
    assert PULSE is not None
    name, spec = next(iter(PULSE.counts.items()))
    return name, spec.max


def ping(**changes: Any) -> dict[str, Any]:
    assert PULSE is not None
    body: dict[str, Any] = {
        "product": "pulse",
        "install_id": INSTALL,
        "event": next(iter(PULSE.events)),
        "version": "5.1.2",
        "platform": next(p for p in PULSE.platforms if p not in ("other", "unknown")),
        "os": "linux",
        "arch": "amd64",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def read(body: dict[str, Any]) -> tuple[Any, dict[str, tuple[DropCode, str]]]:
    result = read_ping(body, CATALOGS)
    return result.ping, {d.field: (d.code, d.reason) for d in result.drops}


def refused(body: Any) -> Unreadable:
    with pytest.raises(Unreadable) as info:
        read_ping(body, CATALOGS)
    return info.value


def test_a_right_ping_is_kept_as_sent() -> None:
    kept, drops = read(ping(sent_at="2026-11-23T10:00:00Z", ping_id=str(uuid.UUID(int=7))))
    assert drops == {}
    assert kept.install_id == uuid.UUID(INSTALL) and kept.version == "5.1.2"
    assert kept.sent_at == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    assert kept.ping_id == uuid.UUID(int=7)


@pytest.mark.parametrize(
    ("changes", "path", "error", "text"),
    [
        ({"product": None}, "$.product", "invalid_ping", "missing: every ping names its product"),
        ({"product": 7}, "$.product", "invalid_ping", "expected a product name, got a number"),
        ({"product": "nope"}, "$.product", "unknown_product", "unknown product 'nope'; known: "),
        (
            {"install_id": None},
            "$.install_id",
            "invalid_ping",
            "missing: a ping is counted by its install id (a UUID)",
        ),
        (
            {"install_id": "db01.example.com"},
            "$.install_id",
            "invalid_ping",
            "'db01.example.com' is not a UUID",
        ),
        ({"install_id": "0" * 65}, "$.install_id", "invalid_ping", "is not a UUID"),
        (
            {"install_id": 12},
            "$.install_id",
            "invalid_ping",
            "expected a UUID string, got a number",
        ),
        ({"event": None}, "$.event", "invalid_ping", "missing: every ping names its event"),
        ({"event": ["startup"]}, "$.event", "invalid_ping", "expected an event name, got an array"),
    ],
)
def test_only_a_ping_that_cannot_be_counted_is_refused(
    changes: dict[str, Any], path: str, error: str, text: str
) -> None:
    exc = refused({**ping(), **changes} if None not in changes.values() else _without(changes))
    assert (exc.path, exc.error) == (path, error)
    assert exc.reason.startswith(text) or text in exc.reason


def _without(changes: dict[str, Any]) -> dict[str, Any]:
    body = ping()
    for key, value in changes.items():
        if value is None:
            body.pop(key)
    return body


def test_not_an_object_is_refused() -> None:
    assert refused([1, 2]).reason == "expected a ping (a JSON object), got an array"


def test_an_unknown_event_is_counted_as_other() -> None:
    kept, drops = read(ping(event="shiny-new-event"))
    assert kept.event == OTHER
    assert drops["event"][0] is DropCode.UNKNOWN_EVENT


def test_missing_envelope_fields_are_unknown_and_not_reported() -> None:
    kept, drops = read(ping(version=None, platform=None, os=None, arch=None))
    assert (kept.version, kept.platform, kept.os, kept.arch) == ("unknown",) * 4
    assert drops == {}


@pytest.mark.parametrize(
    "version", ["db01.example.com", "5.1.2+build.7", "10.0.0.7", "5.1 beta", "5.1.2\n\n7", "x" * 65]
)
def test_a_version_that_is_not_one_is_dropped_never_stored(version: str) -> None:
    kept, drops = read(ping(version=version))
    assert kept.version == "unknown"
    assert drops["version"][0] is DropCode.BAD_FORMAT


def test_surrounding_whitespace_is_not_part_of_a_version() -> None:
    assert read(ping(version=" 5.1.2\n"))[0].version == "5.1.2"


def test_a_leading_v_is_one_version_with_the_bare_number() -> None:
    assert (
        read(ping(version="v6.0.0"))[0].version == read(ping(version="6.0.0"))[0].version == "6.0.0"
    )
    assert read(ping(version="6.0.0-rc.1"))[0].version == "6.0.0-rc.1"


@pytest.mark.parametrize("field", ["platform", "os", "arch"])
def test_envelope_values_outside_their_list_count_as_other(field: str) -> None:
    kept, drops = read(ping(**{field: "db01.example.com"}))
    assert getattr(kept, field) == OTHER
    assert drops[field][0] is DropCode.NOT_IN_LIST
    kept, drops = read(ping(**{field: 42}))
    assert getattr(kept, field) == "unknown" and drops[field][0] is DropCode.WRONG_TYPE


def test_envelope_values_are_matched_without_case() -> None:
    assert read(ping(os="Linux"))[0].os == "linux"


def test_an_enum_value_outside_its_list_counts_as_other_and_the_raw_value_is_not_kept() -> None:
    name, _values = _enum_attr()
    kept, drops = read(ping(attrs={name: "a-value-from-the-future"}))
    assert kept.attrs == {name: OTHER}
    assert drops[f"attrs.{name}"] == (
        DropCode.NOT_IN_LIST,
        "not one of the declared values; counted as 'other'",
    )


def test_wrong_types_and_out_of_range_counts_cost_only_that_field() -> None:
    flag = _bool_attr()
    count, limit = _count()
    kept, drops = read(
        ping(attrs={flag: "yes", "undeclared_thing": 1}, counts={count: limit + 1, "nope": 3})
    )
    assert kept.attrs == {} and kept.counts == {}
    assert drops[f"attrs.{flag}"] == (DropCode.WRONG_TYPE, "expected a boolean, got a string")
    assert drops[f"counts.{count}"] == (
        DropCode.OUT_OF_RANGE,
        f"expected a whole number from 0 to {limit}",
    )
    assert drops["attrs.undeclared_thing"] == (
        DropCode.UNDECLARED,
        "not declared by the pulse catalog",
    )
    assert drops["counts.nope"][0] is DropCode.UNDECLARED


@pytest.mark.parametrize(
    ("value", "kept", "code"),
    [
        (3, 3, None),
        (3.0, 3, None),
        (-1, None, DropCode.OUT_OF_RANGE),
        (1.5, None, DropCode.OUT_OF_RANGE),
        (float("inf"), None, DropCode.OUT_OF_RANGE),
        (OUT_OF_RANGE, None, DropCode.OUT_OF_RANGE),
        (True, None, DropCode.WRONG_TYPE),
        ("12", None, DropCode.WRONG_TYPE),
        (None, None, None),
    ],
)
def test_count_values(value: Any, kept: int | None, code: DropCode | None) -> None:
    count, _limit = _count()
    result, drops = read(ping(counts={count: value}))
    assert result.counts.get(count) == kept
    assert drops.get(f"counts.{count}", (None,))[0] is code


@pytest.mark.parametrize(
    ("sent_at", "expected"),
    [
        ("2024-10-04T11:54:14", dt.datetime(2024, 10, 4, 11, 54, 14, tzinfo=dt.UTC)),
        ("2024-10-04T11:54:14.123Z", dt.datetime(2024, 10, 4, 11, 54, 14, 123000, tzinfo=dt.UTC)),
        ("2024-10-04T13:54:14+02:00", dt.datetime(2024, 10, 4, 11, 54, 14, tzinfo=dt.UTC)),
        # finer than a microsecond: rounded half up, as msgspec's typed decode does
        (
            "2024-10-04T11:54:14.1234564Z",
            dt.datetime(2024, 10, 4, 11, 54, 14, 123456, tzinfo=dt.UTC),
        ),
        (
            "2024-10-04T11:54:14.1234565Z",
            dt.datetime(2024, 10, 4, 11, 54, 14, 123457, tzinfo=dt.UTC),
        ),
        ("2024-12-31T23:59:59.99999951Z", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        ("9999-12-31T23:59:59.9999995+00:00", None),
        ("yesterday", None),
        (1733000000, None),
    ],
)
def test_sent_at_with_or_without_fraction_and_zone(
    sent_at: Any, expected: dt.datetime | None
) -> None:
    kept, drops = read(ping(sent_at=sent_at))
    assert kept.sent_at == expected
    assert ("sent_at" in drops) == (expected is None)


def test_a_bad_ping_id_is_dropped_and_the_ping_counted() -> None:
    kept, drops = read(ping(ping_id="12"))
    assert kept.ping_id is None and drops["ping_id"][0] is DropCode.BAD_FORMAT


def test_attrs_that_are_not_an_object_are_dropped_whole() -> None:
    kept, drops = read(ping(attrs=["x"], counts="many"))
    assert kept.attrs == {} and kept.counts == {}
    assert set(drops) == {"attrs", "counts"}


def test_a_weird_key_is_reported_escaped_and_cut() -> None:
    kept, drops = read(ping(attrs={"Bad Key\ud800" + "k" * 100: True}))
    assert kept.attrs == {}
    (field,) = drops
    assert field.startswith("attrs.Bad Key\\ud800") and field.endswith("…") and len(field) < 80


def test_control_characters_never_reach_a_kept_string() -> None:
    for field in ("version", "platform", "os", "arch"):
        kept, _ = read(ping(**{field: "linux\x00"}))
        assert "\x00" not in getattr(kept, field)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    extra=st.dictionaries(
        st.sampled_from(
            [
                "version",
                "platform",
                "os",
                "arch",
                "sent_at",
                "ping_id",
                "attrs",
                "counts",
                "hostname",
                "ip",
            ]
        ),
        _json,
    ),
    attrs=st.dictionaries(st.text(max_size=30), _json, max_size=6),
    counts=st.dictionaries(st.text(max_size=30), _json, max_size=6),
)
def test_any_extra_mistyped_or_out_of_range_optional_field_is_counted(
    extra: dict[str, Any], attrs: dict[str, Any], counts: dict[str, Any]
) -> None:
    """Property (real-clients issue): a valid identity plus anything else is counted, and what
    is kept is declared and within its rules."""
    assert PULSE is not None
    body = {**ping(), **extra}
    body.setdefault("attrs", attrs)
    body.setdefault("counts", counts)
    result = read_ping(body, CATALOGS)
    kept = result.ping
    assert set(kept.attrs) <= set(PULSE.attrs) and set(kept.counts) <= set(PULSE.counts)
    assert kept.platform in PULSE.platforms and kept.os in PULSE.oses and kept.arch in PULSE.arches
    for key, value in kept.attrs.items():
        spec = PULSE.attrs[key]
        if spec.type == "enum":
            assert value in spec.values
        elif spec.type == "bool":
            assert isinstance(value, bool)
    for key, number in kept.counts.items():
        assert 0 <= number <= PULSE.counts[key].max


def test_a_remembered_string_attr_answer_is_the_pattern_s_even_past_the_bound() -> None:
    catalog = CATALOGS.get("proxmox-scripts")
    assert catalog is not None
    rules = rules_of(catalog)
    key = next(k for k, spec in catalog.attrs.items() if spec.type == "string")
    pattern = rules.strings[key]
    values = [f"app-{i}" for i in range(5000)] + ["Not Valid!", "app-1", "Not Valid!"]
    for value in values:  # more than the memo holds: it starts over, never answers otherwise
        ping = Ping(product=catalog.product, install_id=uuid.UUID(int=1), event="install")
        typed = msgspec.structs.replace(ping, attrs={key: value})
        expected = pattern.fullmatch(value) is not None
        assert rules.allows(typed) is (expected and rules.allows_envelope(typed))
        assert len(rules.known) <= len(rules.pairs) + 4096


@pytest.mark.parametrize(
    ("attrs", "allowed"),
    [
        ({}, True),
        ({"BOOL": True, "BOOL2": False}, True),
        ({"ENUM": "FIRST"}, True),
        ({"ENUM": "not one of its values"}, False),
        ({"ENUM": True}, False),  # a bool where the catalog wants one of its strings
        ({"BOOL": "true"}, False),  # a string where the catalog wants a bool
        ({"not_declared_anywhere": True}, False),
        ({"STRING": "git.45.gabcdef"}, True),  # not in the pair set: checked by its pattern
        ({"STRING": "not a build!"}, False),
        ({"BOOL": True, "STRING": "git.45.gabcdef"}, True),
    ],
)
def test_attrs_by_pair_set_or_one_by_one_answer_as_the_reader(
    attrs: dict[str, Any], allowed: bool
) -> None:
    """`allows` takes bool and enum attrs as one set containment and anything else attr by
    attr; either way the answer is the reader's (it keeps the attrs exactly as sent)."""
    assert PULSE is not None
    enum, values = _enum_attr()
    bools = [k for k, spec in PULSE.attrs.items() if spec.type == "bool"]
    string = next(k for k, spec in PULSE.attrs.items() if spec.type == "string")
    names = {"BOOL": bools[0], "BOOL2": bools[1], "ENUM": enum, "STRING": string}
    sent = {names.get(k, k): values[0] if v == "FIRST" else v for k, v in attrs.items()}
    envelope = read_ping({**ping(), "attrs": {}, "counts": {}}, CATALOGS).ping
    typed = msgspec.structs.replace(envelope, attrs=sent)
    rules = rules_of(PULSE)
    assert rules.allows(typed) is allowed
    read = read_ping({**ping(), "attrs": sent, "counts": {}}, CATALOGS)
    assert (read.ping.attrs == sent and not read.drops) is allowed


def test_counts_within_the_lowest_limit_or_each_its_own_answer_as_the_reader() -> None:
    """`allows` takes counts under the catalog's lowest limit at once and checks the others
    one by one; either way the answer is the reader's."""
    assert PULSE is not None
    lowest = min(spec.max for spec in PULSE.counts.values())
    roomy = next(k for k, spec in PULSE.counts.items() if spec.max > lowest + 1)
    limit = PULSE.counts[roomy].max
    envelope = read_ping({**ping(), "attrs": {}, "counts": {}}, CATALOGS).ping
    rules = rules_of(PULSE)
    for counts, allowed in [
        ({roomy: 0}, True),
        ({roomy: lowest}, True),
        ({roomy: lowest + 1}, True),  # past the lowest limit, within its own
        ({roomy: limit}, True),
        ({roomy: limit + 1}, False),
        ({"not_declared_anywhere": 1}, False),
    ]:
        typed = msgspec.structs.replace(envelope, counts=counts)
        assert rules.allows(typed) is allowed, counts
        read = read_ping({**ping(), "attrs": {}, "counts": counts}, CATALOGS)
        assert (read.ping.counts == counts and not read.drops) is allowed, counts
