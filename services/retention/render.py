"""The `--dry-run` text: what a pass would create, drop and delete. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from services.retention.plan import Plan


def render_plan(plan: Plan, expired_rows: Mapping[str, int]) -> str:
    """One block per table; `expired_rows` maps a table (or a DEFAULT partition) to the rows a
    batched DELETE would remove."""
    lines = [f"retention plan for {plan.today.isoformat()} (UTC); dry run: nothing was changed"]
    for t in plan.tables:
        lines.append(
            f"{t.table}: {t.horizon_class} horizon {t.horizon_days} days, keeps days >= "
            f"{t.keep_from.isoformat()}"
        )
        for day in t.create:
            lines.append(f"  create {t.table}_p{day:%Y%m%d} ({day.isoformat()})")
        for p in t.drop:
            lines.append(f"  drop   {p.name} ({p.describe()}, ~{p.estimated_rows} rows)")
        if t.default_partition is not None:
            rows = expired_rows.get(t.default_partition, 0)
            lines.append(
                f"  delete {rows} row(s) of DEFAULT partition {t.default_partition} "
                f"with {t.day_column} < {t.keep_from.isoformat()}"
            )
        for p in t.trim:
            rows = expired_rows.get(p.name, 0)
            lines.append(
                f"  delete {rows} row(s) of {p.name} ({p.describe()}, reaches into the horizon) "
                f"with {t.day_column} < {t.keep_from.isoformat()}"
            )
        if not (t.create or t.drop or t.default_partition or t.trim):
            lines.append("  nothing to do")
    for r in plan.row_purges:
        lines.append(
            f"{r.table}: {r.horizon_class} horizon, delete {expired_rows.get(r.table, 0)} row(s) "
            f"with {r.day_column} < {r.keep_from.isoformat()}"
        )
    created = sum(len(t.create) for t in plan.tables)
    dropped = sum(len(t.drop) for t in plan.tables)
    lines.append(f"total: create {created} partition(s), drop {dropped} partition(s)")
    return "\n".join(lines)
