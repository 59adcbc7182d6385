"""check_ping's quick path for valid pings agrees with the full walk on every input."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from schemas.ping import Ping
from schemas.validation import CatalogViolation, CheckedPing, _check_in_full, check_ping

CATALOGS = load_catalogs()
PULSE = CATALOGS.get("pulse")
assert PULSE is not None
ATTR_KEYS = [*PULSE.attrs, "undeclared_attr"]
COUNT_KEYS = [*PULSE.counts, "undeclared_count"]
ATTR_VALUES = st.one_of(
    st.booleans(),
    st.sampled_from([v for spec in PULSE.attrs.values() for v in spec.values] or ["x"]),
    st.text(max_size=8),
)


def outcome(check: Any, ping: Ping) -> CheckedPing | str:
    try:
        result: CheckedPing = check(ping, CATALOGS, "$")
    except CatalogViolation as exc:
        return str(exc)
    return result


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(ATTR_KEYS), ATTR_VALUES, max_size=6),
    st.dictionaries(st.sampled_from(COUNT_KEYS), st.integers(0, 10**12), max_size=6),
    st.sampled_from(["heartbeat", "startup", "no-such-event"]),
)
def test_quick_path_agrees_with_the_full_walk(
    attrs: dict[str, Any], counts: dict[str, int], event: str
) -> None:
    ping = Ping(
        product="pulse",
        install_id=uuid.uuid4(),
        event=event,
        version="5.0.0",
        platform="docker",
        os="linux",
        arch="amd64",
        attrs=attrs,
        counts=counts,
    )

    def quick(p: Ping, catalogs: Any, path: str) -> CheckedPing:
        return check_ping(p, catalogs, path=path)

    assert outcome(quick, ping) == outcome(_check_in_full, ping)
