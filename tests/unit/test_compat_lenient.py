"""The tolerant Struct conversion of the compat adapters: a wrong optional value is dropped and
named; a wrong or missing required one refuses the body with its path."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas.ping import Count
from services.ingest.compat import lenient
from services.ingest.validate import Checked, Rejection


class Item(msgspec.Struct, frozen=True, rename="camel"):
    provider_id: str | None = None
    count: Count = 0


class Inner(msgspec.Struct, frozen=True):
    users: Count | None = None
    teams: Count | None = None


class Body(msgspec.Struct, frozen=True, rename="camel"):
    instance_id: str
    inner: Inner | None = None
    items: list[Item] | None = None
    release: str | None = None


def test_a_clean_body_converts_with_nothing_dropped() -> None:
    raw = {"instanceId": "a", "inner": {"users": 1}, "items": [{"count": 2}]}
    body, dropped = lenient.convert(raw, Body)
    assert dropped == [] and body.inner == Inner(users=1) and body.items == [Item(count=2)]


def test_each_wrong_optional_value_is_dropped_and_named_the_rest_kept() -> None:
    raw: dict[str, Any] = {
        "instanceId": "a",
        "inner": {"users": "many", "teams": 3},
        "items": [{"count": 2, "providerId": "x"}, {"count": -1}],
        "release": 7,
    }
    body, dropped = lenient.convert(raw, Body)
    assert sorted(dropped) == ["inner.users", "items.count", "release"]
    assert body.inner == Inner(teams=3)
    assert body.items == [Item(provider_id="x", count=2), Item()]
    assert raw["inner"]["users"] == "many"  # the caller's body is left as the client sent it


@pytest.mark.parametrize(
    ("raw", "path"),
    [({"inner": {}}, "$"), ({"instanceId": 5}, "$.instanceId"), ([1], "$")],
)
def test_a_wrong_or_missing_required_field_refuses(raw: Any, path: str) -> None:
    with pytest.raises(Rejection) as info:
        lenient.convert(raw, Body)
    assert (info.value.status, info.value.path) == (422, path)
    assert "msgspec" not in info.value.reason and "Expected" not in info.value.reason


def test_with_wrong_lists_each_value_with_its_reason_and_metric_label() -> None:
    checked = Checked([], ["hostname"], {"hostname": "by design"})
    out = lenient.with_wrong(checked, "novu", ["freeMemory"], prefix="properties.")
    assert out.dropped_fields == ["hostname", "properties.freeMemory"]
    assert out.reasons["properties.freeMemory"] == lenient.WRONG
    assert [code.value for _, code in out.drops] == ["wrong_type"]
    assert lenient.with_wrong(checked, "novu", []) is checked
