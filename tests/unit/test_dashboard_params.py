"""Parameters of the dashboard's pages and API: a bad one is refused naming it."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalog import load_catalogs
from services.dashboard import params
from services.dashboard.params import ParamError

TODAY = dt.date(2026, 11, 20)
CATALOGS = load_catalogs().by_product


def test_default_range_is_30_days_ending_today() -> None:
    r = params.day_range({}, TODAY, 400)
    assert (r.start, r.end, r.days) == (TODAY - dt.timedelta(days=29), TODAY, 30)


@pytest.mark.parametrize("days", params.RANGES)
def test_each_preset_range(days: int) -> None:
    assert params.day_range({"range": str(days)}, TODAY, 400).days == days


def test_custom_range() -> None:
    r = params.day_range({"from": "2026-11-01", "to": "2026-11-10"}, TODAY, 400)
    assert (r.start, r.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 10))


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-21"}, "to"),
        ({"to": "20261101"}, "to"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ({"from": "2024-01-01"}, "from"),
        ({"range": "14"}, "range"),
        ({"range": "7", "from": "2026-11-01"}, "range"),
    ],
)
def test_bad_ranges_name_the_parameter(query: dict[str, str], name: str) -> None:
    with pytest.raises(ParamError) as caught:
        params.day_range(query, TODAY, 400)
    assert caught.value.name == name
    assert caught.value.status == 400


def test_day_after_today_is_refused() -> None:
    with pytest.raises(ParamError, match="day"):
        params.one_day({"day": "2026-11-21"}, TODAY)
    assert params.one_day({}, TODAY) == TODAY


def test_unknown_product_is_a_404_naming_the_choices() -> None:
    with pytest.raises(ParamError) as caught:
        params.product(CATALOGS, "nope")
    assert caught.value.status == 404 and "pulse" in caught.value.reason


def test_dimensions_are_base_or_declared_attrs() -> None:
    pulse = CATALOGS["pulse"]
    assert params.dimension(pulse, "version") == "version"
    assert params.dimension(pulse, "ai_enabled") == "ai_enabled"
    with pytest.raises(ParamError) as caught:
        params.dimension(pulse, "install_id")
    assert caught.value.name == "dimension"


def test_outcome_by_and_event() -> None:
    px = CATALOGS["proxmox-scripts"]
    assert params.outcome_by(px, "nsapp") == "nsapp"
    with pytest.raises(ParamError, match="by"):
        params.outcome_by(px, "cpu_model")  # declared, but not a dimension
    with pytest.raises(ParamError, match="event"):
        params.run_event(px, "progress", "install")  # several per run: not a count of installs
    assert params.run_event(px, None, "install") == "install"
    with pytest.raises(ParamError) as caught:
        params.run_event(CATALOGS["pulse"], None, None)
    assert (caught.value.name, caught.value.status) == ("product", 404)
    with pytest.raises(ParamError, match="by"):
        params.outcome_by(CATALOGS["novu"], None)
