"""The `--dry-run` text names every partition a pass would create and drop."""

from __future__ import annotations

import datetime as dt

from services.retention.plan import DayPartition, Horizons, TableState, plan_pass
from services.retention.render import render_plan


def test_dry_run_lists_creates_drops_and_deletes() -> None:
    today = dt.date(2025, 3, 1)
    old = dt.date(2024, 11, 30)
    states = [
        TableState(
            "install_days",
            "install",
            (
                DayPartition("install_days_p20241130", old, old + dt.timedelta(days=1), 1234),
                DayPartition("restored_2024", dt.date(2024, 1, 1), dt.date(2024, 12, 1), 99),
                DayPartition("straddler", dt.date(2024, 12, 1), dt.date(2024, 12, 10), 5),
            ),
            default_partition="install_days_default",
        ),
        TableState("rollup_events", "rollup", ()),
    ]
    plan = plan_pass(states, Horizons(), today, 1)
    text = render_plan(plan, {"install_days_default": 7, "install_activity": 42, "straddler": 3})
    lines = text.splitlines()
    assert lines[0] == "retention plan for 2025-03-01 (UTC); dry run: nothing was changed"
    assert "install_days: install horizon 90 days, keeps days >= 2024-12-02" in lines
    assert "  drop   install_days_p20241130 (2024-11-30, ~1234 rows)" in lines
    assert "  drop   restored_2024 ([2024-01-01, 2024-12-01), ~99 rows)" in lines
    assert (
        "  delete 3 row(s) of straddler ([2024-12-01, 2024-12-10), reaches into the horizon) "
        "with day < 2024-12-02"
    ) in lines
    assert "  create install_days_p20250301 (2025-03-01)" in lines
    assert "  create install_days_p20250302 (2025-03-02)" in lines
    assert "  create rollup_events_p20250302 (2025-03-02)" in lines
    assert (
        "  delete 7 row(s) of DEFAULT partition install_days_default with day < 2024-12-02" in lines
    )
    assert "install_activity: install horizon, delete 42 row(s) with last_day < 2024-12-02" in lines
    assert lines[-1] == "total: create 4 partition(s), drop 2 partition(s)"


def test_dry_run_of_a_tidy_database_says_so() -> None:
    today = dt.date(2025, 3, 1)
    part = DayPartition("rollup_events_p20250301", today, today + dt.timedelta(days=1))
    plan = plan_pass([TableState("rollup_events", "rollup", (part,))], Horizons(), today, 0)
    text = render_plan(plan, {})
    assert (
        "rollup_events: rollup horizon 400 days, keeps days >= 2024-01-27\n  nothing to do" in text
    )
    assert text.endswith("total: create 0 partition(s), drop 0 partition(s)")
