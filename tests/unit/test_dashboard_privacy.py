"""Minimum-count privacy of the dashboard: the k-suppression rule, and property tests over random
fleets that no published number of a day, nor the difference of two nested published numbers of
that day, is the size of a group of 1..k-1 installs."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from services.dashboard import privacy, reports
from services.dashboard.params import BASE_DIMENSIONS
from services.dashboard.rows import ActiveRow, CohortRow, CountRow, OutcomeEvents

DAY = dt.date(2026, 11, 20)
CATALOG = load_catalogs().by_product["proxmox-scripts"]


# --- the rule, by example ------------------------------------------------------------------


def test_small_cells_fold_into_other() -> None:
    folded = privacy.fold({"a": 10, "b": 7, "c": 3, "d": 2}, 22, 5)
    assert folded is not None
    assert folded.kept == {"a": 10, "b": 7}
    assert folded.other == 5


def test_other_smaller_than_k_takes_the_smallest_cell_with_it() -> None:
    # c alone would be "other" = 3: total - a - b would reveal it, so b joins it.
    folded = privacy.fold({"a": 10, "b": 7, "c": 3}, 20, 5)
    assert folded is not None
    assert folded.kept == {"a": 10}
    assert folded.other == 10


def test_unreported_installs_count_in_other() -> None:
    folded = privacy.fold({"yes": 10, "no": 8}, 20, 5)  # 2 did not report
    assert folded is not None
    assert folded.kept == {"yes": 10}
    assert folded.other == 10


def test_a_total_under_k_shows_nothing() -> None:
    assert privacy.fold({"a": 4}, 4, 5) is None
    assert privacy.fold({"a": 5}, 5, 5) is not None


def test_activity_hides_a_week_that_differs_from_the_day_by_fewer_than_k() -> None:
    cells = privacy.activity(dau=20, wau=22, mau=40, new=0, k=5)
    assert (cells.dau, cells.wau, cells.mau, cells.new) == (20, None, 40, 0)


def test_new_installs_hidden_when_returning_ones_are_fewer_than_k() -> None:
    cells = privacy.activity(dau=12, wau=30, mau=60, new=9, k=5)
    assert cells.new is None and cells.dau == 12


def test_histogram_buckets_merge_until_k() -> None:
    buckets = privacy.merge_buckets([0, 2, 3, 9, 1], 5)  # [1,2) 2, [2,4) 3, [4,8) 9, [8,16) 1
    assert buckets == [privacy.Bucket(1, 4, 5), privacy.Bucket(4, 16, 10)]
    assert privacy.merge_buckets([0, 2, 2], 5) == []


def test_count_min_max_hidden_under_k_reporters() -> None:
    row = CountRow("disk_size", 4, 40, 2, 32, (0, 0, 2, 0, 0, 0, 2))
    stats = reports.count_stats(row, "why", dau=50, k=5)
    assert stats.min is None and stats.max is None and stats.installs is None


def test_quantile_of_unmerged_buckets_equals_the_raw_rule() -> None:
    hist = [0, 0, 10, 20, 10]
    buckets = privacy.merge_buckets(hist, 5)
    # census_histogram_quantile on the raw histogram: rank 20 lies in [4,8), 10 of 20 in.
    assert privacy.quantile(buckets, 0.5, 2, 15) == 6.0


def test_failure_rate_needs_the_minimum_runs() -> None:
    rules = reports.OutcomeRules(k=5, min_runs=10, has_outcome=True, has_category=True)
    events = [
        OutcomeEvents(DAY, "jellyfin", "success", "", 4),
        OutcomeEvents(DAY, "jellyfin", "failed", "network", 5),
        OutcomeEvents(DAY, "nginx", "success", "", 20),
        OutcomeEvents(DAY, "nginx", "failed", "network", 6),
    ]
    rows, other = reports.outcome_rows(events, rules)
    by_value = {r.value: r for r in rows}
    assert by_value["nginx"].failure_ratio == 6 / 26
    assert by_value["jellyfin"].failure_ratio is None  # 9 runs < 10
    assert other == 0


def test_a_cell_inside_another_dimensions_cell_costs_the_smaller_one() -> None:
    # Every 2.0 install runs on linux; linux has 3 more: 2.0 next to linux would reveal them.
    atoms: dict[tuple[str, ...], int] = {
        ("2.0", "linux"): 10,
        ("1.0", "linux"): 3,
        ("1.0", "windows"): 12,
    }
    folded = privacy.fold_dimensions(atoms, 2, 5)
    assert folded is not None
    versions, systems = folded
    assert "2.0" not in versions.kept or "linux" not in systems.kept


def test_cohort_cells_hide_small_differences_with_the_cohort() -> None:
    rows = [CohortRow(DAY, 0, 20), CohortRow(DAY, 1, 18), CohortRow(DAY, 2, 10)]
    (week,) = reports.cohort_weeks(rows, DAY + dt.timedelta(weeks=3), 5)
    assert week.installs == 20
    assert week.active == [None, 10, 0]


# --- property tests over random fleets -----------------------------------------------------


@dataclass(frozen=True)
class FleetInstall:
    ident: int
    key: tuple[str, str, str, str]
    today: bool
    week: bool
    month: bool
    new: bool
    feature: str | None
    count: int | None
    script: str
    outcome: str
    category: str


def installs_strategy() -> st.SearchStrategy[list[FleetInstall]]:
    def build(ident: int, raw: tuple[object, ...]) -> FleetInstall:
        (v, p, o, a, seen, feature, count, script, outcome, category) = raw
        today, week, month = {
            0: (True, True, True),
            1: (False, True, True),
            2: (False, False, True),
        }[seen]  # type: ignore[index]
        return FleetInstall(
            ident,
            (str(v), str(p), str(o), str(a)),
            today,
            week,
            month,
            today and ident % 3 == 0,
            feature,  # type: ignore[arg-type]
            count,  # type: ignore[arg-type]
            str(script),
            str(outcome),
            str(category),
        )

    one = st.tuples(
        st.sampled_from(["1.0", "1.1", "2.0"]),
        st.sampled_from(["docker", "binary"]),
        st.sampled_from(["linux", "windows"]),
        st.sampled_from(["amd64", "arm64", "riscv"]),
        st.sampled_from([0, 0, 0, 1, 2]),
        st.sampled_from([None, "true", "false"]),
        st.one_of(st.none(), st.integers(0, 300)),
        st.sampled_from(["jellyfin", "nginx", "pihole"]),
        st.sampled_from(["success", "success", "failed", "aborted"]),
        st.sampled_from(["network", "storage"]),
    )
    return st.lists(one, max_size=120).map(lambda raws: [build(i, r) for i, r in enumerate(raws)])


Published = list[tuple[str, frozenset[int], int]]
"""(what, the installs it counts, the published number)."""


def check_table(published: Published, k: int) -> None:
    """Each number is its group's size; every group and every difference of nested groups is
    empty or at least k."""
    for what, group, number in published:
        assert number == len(group), what
        assert privacy.publishable(len(group), k), (what, len(group))
    for (wa, a, _), (wb, b, _) in itertools.combinations(published, 2):
        if a <= b or b <= a:
            assert privacy.publishable(len(a ^ b), k), (wa, wb, len(a ^ b))


def _ids(installs: Iterable[FleetInstall]) -> frozenset[int]:
    return frozenset(i.ident for i in installs)


@settings(max_examples=300)
@given(fleet=installs_strategy(), k=st.integers(2, 8))
def test_base_breakdowns_and_activity_reveal_no_small_group(
    fleet: list[FleetInstall], k: int
) -> None:
    today = [i for i in fleet if i.today]
    dau, wau, mau = _ids(today), _ids(i for i in fleet if i.week), _ids(fleet)
    rows = []
    atoms: dict[tuple[str, str, str, str], int] = {}
    for i in today:
        atoms[i.key] = atoms.get(i.key, 0) + 1
    rows = [ActiveRow(DAY, *key, n) for key, n in atoms.items()]
    cells = privacy.activity(len(dau), len(wau), len(mau), sum(i.new for i in today), k)
    published: Published = []
    for name, group, value in (
        ("dau", dau, cells.dau),
        ("wau", wau, cells.wau),
        ("mau", mau, cells.mau),
    ):
        if value is not None:
            published.append((name, group, value))
    activity_table = list(published)
    new = _ids(i for i in today if i.new)
    if cells.new is not None:
        activity_table.append(("new", new, cells.new))
    check_table(activity_table, k)

    breakdowns = reports.base_breakdowns_day(DAY, rows, k)
    for index, dim in enumerate(BASE_DIMENSIONS):
        day = breakdowns[dim]
        if day.total is None:
            assert len(dau) < k
            continue
        shown = frozenset[int]()
        for cell in day.cells:
            group = _ids(i for i in today if i.key[index] == cell.value)
            published.append((f"{dim}={cell.value}", group, cell.installs))
            shown |= group
        published.append((f"{dim}=other", dau - shown, day.other))
        assert sum(c.installs for c in day.cells) + day.other == day.total == len(dau)
    check_table(published, k)


@settings(max_examples=300)
@given(fleet=installs_strategy(), k=st.integers(2, 8))
def test_attr_adoption_reveals_no_small_group(fleet: list[FleetInstall], k: int) -> None:
    today = [i for i in fleet if i.today]
    dau = _ids(today)
    values: dict[str, int] = {}
    for i in today:
        if i.feature is not None:
            values[i.feature] = values.get(i.feature, 0) + 1
    day = reports.attr_breakdown_day(DAY, values, len(dau), k)
    if day.total is None:
        assert len(dau) < k
        return
    published: Published = [("dau", dau, day.total)]
    shown = frozenset[int]()
    for cell in day.cells:
        group = _ids(i for i in today if i.feature == cell.value)
        published.append((cell.value, group, cell.installs))
        shown |= group
    published.append(("other", dau - shown, day.other))
    check_table(published, k)


@settings(max_examples=300)
@given(fleet=installs_strategy(), k=st.integers(2, 8))
def test_count_statistics_reveal_no_small_group(fleet: list[FleetInstall], k: int) -> None:
    today = [i for i in fleet if i.today]
    reporting = [i for i in today if i.count is not None]
    values = [i.count for i in reporting if i.count is not None]
    hist = [0] * 41
    for v in values:
        hist[v.bit_length()] += 1
    row = CountRow(
        "disk_size",
        len(values),
        sum(values),
        min(values, default=0),
        max(values, default=0),
        tuple(hist),
    )
    stats = reports.count_stats(row, "why", len(today), k)
    if stats.installs is None:
        assert (
            all(v is None for v in (stats.min, stats.max, stats.sum, stats.p50))
            and not stats.histogram
        )
        return
    assert stats.min is not None and len(values) >= k  # no min/max of a group smaller than k
    published: Published = [
        ("dau", _ids(today), len(today)),
        ("reporting", _ids(reporting), stats.installs),
    ]
    for b in stats.histogram:
        group = _ids(i for i in reporting if i.count is not None and b.lo <= i.count < b.hi)
        published.append((f"[{b.lo},{b.hi})", group, b.installs))
    assert sum(b.installs for b in stats.histogram) == stats.installs
    check_table(published, k)


@settings(max_examples=300)
@given(fleet=installs_strategy(), k=st.integers(2, 8), min_runs=st.integers(0, 20))
def test_outcomes_reveal_no_small_group(fleet: list[FleetInstall], k: int, min_runs: int) -> None:
    """One run per install, as proxmox-scripts reports (a fresh install id per run)."""
    runs = [i for i in fleet if i.today]
    events: dict[tuple[str, str, str], int] = {}
    for i in runs:
        cat = i.category if i.outcome == "failed" else ""
        events[(i.script, i.outcome, cat)] = events.get((i.script, i.outcome, cat), 0) + 1
    rules = reports.OutcomeRules(k, max(min_runs, k), True, True)
    rows, other = reports.outcome_rows(
        [OutcomeEvents(DAY, s, o, c, n) for (s, o, c), n in events.items()], rules
    )
    published: Published = []
    everyone = _ids(runs)
    if rows:
        published.append(("all", everyone, sum(r.runs for r in rows) + other))
        shown = frozenset[int]()
        for r in rows:
            group = [i for i in runs if i.script == r.value]
            published.append((r.value, _ids(group), r.runs))
            shown |= _ids(group)
            for cell in r.outcomes:
                published.append(
                    (
                        f"{r.value}:{cell.value}",
                        _ids(i for i in group if i.outcome == cell.value),
                        cell.installs,
                    )
                )
            failed = [i for i in group if i.outcome == "failed"]
            if r.failed is not None:
                published.append((f"{r.value}:failed", _ids(failed), r.failed))
            else:
                assert r.failure_ratio is None
            if r.failure_ratio is not None:
                assert r.runs >= rules.min_runs
            for cell in r.categories:
                published.append(
                    (
                        f"{r.value}:failed:{cell.value}",
                        _ids(i for i in failed if i.category == cell.value),
                        cell.installs,
                    )
                )
        published.append(("other", everyone - shown, other))
    check_table(published, k)
    (day,) = reports.outcome_days(
        [OutcomeEvents(DAY, s, o, c, n) for (s, o, c), n in events.items()], [DAY], rules
    )
    daily: Published = []
    if day.runs is not None:
        daily.append(("runs", everyone, day.runs))
    if day.failed is not None:
        daily.append(("failed", _ids(i for i in runs if i.outcome == "failed"), day.failed))
    check_table(daily, k)


def test_the_property_check_catches_a_leak() -> None:
    """The checker itself: a partition showing a 3-install remainder fails it."""
    a, b = frozenset(range(10)), frozenset(range(13))
    try:
        check_table([("a", a, 10), ("b", b, 13)], 5)
    except AssertionError:
        return
    raise AssertionError("a difference of 3 was not caught")


def test_catalog_has_the_outcome_attrs() -> None:
    assert {"status", "error_category", "nsapp"} <= set(CATALOG.dimensions)
