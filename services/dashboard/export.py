"""GET /api/v1/export/{product}/{day}.csv|.json: every number the day publishes, in long form."""

from __future__ import annotations

import csv
import datetime as dt
import io

from schemas.catalog import Catalog
from services.dashboard import api, outcomes
from services.dashboard.params import BASE_DIMENSIONS, DayRange
from services.dashboard.privacy import OTHER
from services.dashboard.reader import Reader

COLUMNS = ("table", "subject", "value", "metric", "number")


def _breakdown_rows(table: str, b: api.Breakdown) -> list[api.ExportRow]:
    rows: list[api.ExportRow] = []
    for day in b.days:
        if day.total is None:
            continue
        rows += [
            api.ExportRow(table, b.dimension, c.value, "installs", c.installs) for c in day.cells
        ]
        rows.append(api.ExportRow(table, b.dimension, OTHER, "installs", day.other))
    return rows


async def day_export(reader: Reader, catalog: Catalog, day: dt.date) -> api.DayExport:
    one = DayRange(day, day)
    rows: list[api.ExportRow] = []
    for a in (await reader.activity(catalog, one)).days:
        for metric in ("dau", "wau", "mau", "new"):
            value = getattr(a, metric)
            if value is not None:
                rows.append(api.ExportRow("activity", catalog.product, "", metric, value))
    for dimension in BASE_DIMENSIONS:
        rows += _breakdown_rows("breakdown", await reader.breakdown(catalog, dimension, one))
    for attr in catalog.attrs:
        rows += _breakdown_rows("adoption", await reader.breakdown(catalog, attr, one))
    for stat in (await reader.counts(catalog, day)).counts:
        for metric in ("installs", "sum", "min", "max", "p50", "p90", "p99"):
            value = getattr(stat, metric)
            if value is not None:
                rows.append(api.ExportRow("count", stat.key, "", metric, value))
    by, event = outcomes.default_by(catalog), outcomes.run_event(catalog)
    if by is not None and event is not None:
        report = await reader.outcomes(catalog, event, by, one)
        for row in report.rows:
            rows.append(api.ExportRow("outcome", by, row.value, "runs", row.runs))
            if row.failed is not None:
                rows.append(api.ExportRow("outcome", by, row.value, "failed", row.failed))
            if row.failure_ratio is not None:
                rows.append(
                    api.ExportRow("outcome", by, row.value, "failure_ratio", row.failure_ratio)
                )
        if report.rows:
            rows.append(api.ExportRow("outcome", by, OTHER, "runs", report.other_runs))
    return api.DayExport(catalog.product, day, rows, reader.privacy)


def to_csv(export: api.DayExport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in export.rows:
        number = int(row.number) if float(row.number).is_integer() else row.number
        writer.writerow((row.table, row.subject, row.value, row.metric, number))
    return out.getvalue()
