"""The server-rendered pages: overview, product, fields (the privacy statement) and cohorts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from schemas.catalog import Catalog
from services.dashboard import api, outcomes, params
from services.dashboard.reader import Reader
from services.dashboard.svg import Series, bar_chart, line_chart

TOP_VALUES = 5


def _n(v: int | float | None) -> str:
    if v is None:
        return '<span class="suppressed" title="fewer than k installs">–</span>'
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _pct(v: float | None) -> str:
    return _n(None) if v is None else f"{v * 100:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "data") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(header)}" class="nodata">no published data</td></tr>'
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Pages:
    def __init__(self, reader: Reader, max_days: int) -> None:
        self.reader = reader
        self.max_days = max_days

    def _layout(self, title: str, body: str, product: str | None = None) -> str:
        fresh = self.reader.freshness(product)
        as_of = (
            fresh.aggregated_at.strftime("%Y-%m-%d %H:%M UTC") if fresh.aggregated_at else "never"
        )
        latest = fresh.latest_day.isoformat() if fresh.latest_day else "none"
        k = self.reader.rules.k
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · Census</title>"
            '<link rel=icon href="/static/favicon.svg" type="image/svg+xml">'
            '<link rel=stylesheet href="/static/census.css"></head><body>'
            '<header><a class="brand" href="/">Census</a>'
            f'<span class="freshness" id="freshness">data as of {as_of} · latest day {latest} · '
            f"all days UTC · no number shown stands for fewer than {k} installs</span></header>"
            f"<main><h1>{escape(title)}</h1>{body}</main>"
            '<footer><a href="/api/v1/openapi.json">JSON API (OpenAPI)</a></footer></body></html>'
        )

    def _range_form(self, days: params.DayRange, path: str) -> str:
        links = " ".join(
            f'<a href="{path}?{urlencode({"range": r})}"'
            + (' class="current"' if days.days == r and days.end == self.reader.today() else "")
            + f">{r} days</a>"
            for r in params.RANGES
        )
        return (
            f'<nav class="range">{links} <form method="get" action="{path}">'
            f'<label>from <input type="date" name="from" value="{days.start.isoformat()}"></label> '
            f'<label>to <input type="date" name="to" value="{days.end.isoformat()}"></label> '
            "<button type=submit>show</button></form></nav>"
        )

    def _days(self, query: Mapping[str, str]) -> params.DayRange:
        return params.day_range(query, self.reader.today(), self.max_days)

    async def overview(self, query: Mapping[str, str]) -> str:
        days = self._days(query)
        summary = await self.reader.products()
        rows = []
        charts = []
        for p in summary.products:
            catalog = self.reader.catalogs[p.product]
            link = f'<a href="/products/{escape(p.product)}">{escape(p.name)}</a>'
            rows.append(
                [link, _n(p.dau), _n(p.wau), _n(p.mau), p.day.isoformat() if p.day else "–"]
            )
            act = await self.reader.activity(catalog, days)
            charts.append(f"<section><h2>{link}</h2>{self._activity_chart(act)}</section>")
        body = (
            self._range_form(days, "/")
            + _table(["product", "DAU", "WAU", "MAU", "day"], rows)
            + '<div class="grid">'
            + "".join(charts)
            + "</div>"
        )
        return self._layout("Products", body)

    @staticmethod
    def _activity_chart(act: api.Activity) -> str:
        series = [
            Series(name, [(d.day, getattr(d, attr)) for d in act.days])
            for name, attr in (("DAU", "dau"), ("WAU", "wau"), ("MAU", "mau"))
        ]
        return line_chart(f"active installs of {act.product}", series)

    @staticmethod
    def _share_trend(b: api.Breakdown) -> str:
        totals: dict[str, int] = {}
        for d in b.days:
            for c in d.cells:
                totals[c.value] = totals.get(c.value, 0) + c.installs
        top = sorted(totals, key=lambda v: -totals[v])[:TOP_VALUES]
        series = []
        for value in top:
            points: list[tuple[dt.date, float | None]] = []
            for d in b.days:
                share = next((c.share for c in d.cells if c.value == value), None)
                points.append((d.day, share if d.total else None))
            series.append(Series(value, points))
        return line_chart(f"share of active installs by {b.dimension}", series, percent=True)

    @staticmethod
    def _latest(b: api.Breakdown) -> api.BreakdownDay | None:
        for d in reversed(b.days):
            if d.total:
                return d
        return None

    def _breakdown_section(self, b: api.Breakdown) -> str:
        latest = self._latest(b)
        rows = []
        if latest is not None:
            rows = [[escape(c.value), _n(c.installs), _pct(c.share)] for c in latest.cells]
            rows.append(
                [
                    "<em>other</em>",
                    _n(latest.other),
                    _pct(latest.other / latest.total if latest.total else 0),
                ]
            )
        when = latest.day.isoformat() if latest else "–"
        return (
            f'<section class="breakdown" id="by-{escape(b.dimension)}"><h3>by {escape(b.dimension)} ({when})</h3>'
            + _table([b.dimension, "installs", "share"], rows)
            + self._share_trend(b)
            + "</section>"
        )

    async def product(self, catalog: Catalog, query: Mapping[str, str]) -> str:
        days = self._days(query)
        slug = catalog.product
        act = await self.reader.activity(catalog, days)
        new = line_chart(
            "new installs per day", [Series("new", [(d.day, d.new) for d in act.days])]
        )
        # The latest day with published activity (today's row exists from midnight on, empty
        # until the first ping: the windows of earlier days reach into it).
        last = next((d for d in reversed(act.days) if d.dau), None)
        day = last.day if last else days.end
        headline = _table(
            ["day", "DAU", "WAU (7 days)", "MAU (28 days)", "new"],
            [[day.isoformat(), _n(last.dau), _n(last.wau), _n(last.mau), _n(last.new)]]
            if last
            else [],
        )
        base = await self.reader.base_breakdowns(catalog, days)
        adoption = await self.reader.adoption_day(catalog, day)
        adoption_rows = []
        for attr, b in adoption.items():
            for c in b.cells:
                adoption_rows.append([escape(attr), escape(c.value), _n(c.installs), _pct(c.share)])
        counts = await self.reader.counts(catalog, day)
        count_rows = [
            [
                escape(c.key),
                _n(c.installs),
                _n(c.mean),
                _n(c.min),
                _n(c.p50),
                _n(c.p90),
                _n(c.p99),
                _n(c.max),
            ]
            for c in counts.counts
        ]
        histograms = "".join(
            f"<figure><figcaption>{escape(c.key)}</figcaption>"
            + bar_chart(f"{c.key} histogram", [(f"{b.lo}–{b.hi}", b.installs) for b in c.histogram])
            + "</figure>"
            for c in counts.counts
            if c.histogram
        )
        body = [
            self._range_form(days, f"/products/{slug}"),
            f'<p>{escape(catalog.description)} <a href="/products/{slug}/fields">What is collected, and why</a> · '
            f'<a href="/products/{slug}/cohorts">Cohorts</a> · '
            f'<a href="/api/v1/export/{slug}/{day.isoformat()}.csv">{day.isoformat()} as CSV</a></p>',
            '<section id="activity"><h2>Active installs</h2>',
            headline,
            self._activity_chart(act),
            new,
            "</section>",
            '<section id="breakdowns"><h2>Versions, platforms, systems</h2><div class="grid">',
            *(self._breakdown_section(base[d]) for d in params.BASE_DIMENSIONS),
            "</div></section>",
            f'<section id="adoption"><h2>Feature adoption ({day.isoformat()})</h2>',
            _table(["attr", "value", "installs", "share"], adoption_rows),
            "</section>",
            f'<section id="counts"><h2>Counts ({day.isoformat()})</h2>',
            _table(["count", "installs", "mean", "min", "p50", "p90", "p99", "max"], count_rows),
            f'<div class="grid">{histograms}</div></section>',
        ]
        by, event = outcomes.default_by(catalog), outcomes.run_event(catalog)
        if by is not None and event is not None:
            body.append(await self._outcomes(catalog, event, by, days))
        return self._layout(catalog.name, "".join(body), slug)

    async def _outcomes(self, catalog: Catalog, event: str, by: str, days: params.DayRange) -> str:
        report = await self.reader.outcomes(catalog, event, by, days)
        has_outcome = report.outcome is not None
        rows = []
        for r in report.rows:
            cats = ", ".join(f"{escape(c.value)} {c.installs}" for c in r.categories)
            row = [escape(r.value) if r.value else "<em>not reported</em>", _n(r.runs)]
            if has_outcome:
                row += [_n(r.failed), _pct(r.failure_ratio), cats or "–"]
            rows.append(row)
        header = [by, "runs"] + (
            ["failed", "failure rate", "failure categories"] if has_outcome else []
        )
        trend = (
            line_chart(
                "failure rate per day",
                [Series("failure rate", [(d.day, d.failure_ratio) for d in report.days])],
                percent=True,
            )
            if has_outcome
            else line_chart(
                "events per day", [Series("events", [(d.day, d.runs) for d in report.days])]
            )
        )
        note = (
            f"<p>A failure rate is shown from {report.min_runs} runs on; "
            f"{_n(report.other_runs)} runs are in smaller groups (other).</p>"
        )
        title = "Install outcomes" if has_outcome else "Events"
        return f'<section id="outcomes"><h2>{title} by {escape(by)}</h2>{note}{_table(header, rows)}{trend}</section>'

    async def fields(self, catalog: Catalog) -> str:
        events = [[escape(name), escape(spec.purpose)] for name, spec in catalog.events.items()]
        attrs = [
            [
                f"<code>{escape(name)}</code>",
                escape(spec.type + (": " + ", ".join(spec.values) if spec.values else "")),
                escape(str(spec.example)),
                escape(spec.purpose),
            ]
            for name, spec in catalog.attrs.items()
        ]
        counts = [
            [
                f"<code>{escape(name)}</code>",
                f"0..{spec.max:,}",
                str(spec.example),
                escape(spec.purpose),
            ]
            for name, spec in catalog.counts.items()
        ]
        body = (
            f"<p>{escape(catalog.description)}</p>"
            "<p>Every ping carries a pseudonymous install id (random, rotated by the client; "
            "per-install rows are deleted after 90 days), the event, and the version, platform, "
            "os and arch it runs on. Besides those, this is everything Census keeps of a ping "
            "from this product, from the same catalog "
            "the gateway enforces (and docs/fields.md is generated from). Anything else a client "
            "sends is dropped on arrival. No client address, hostname or header is kept; per-install "
            "rows are deleted after 90 days; and this dashboard publishes no number backed by fewer "
            f"than {self.reader.rules.k} installs.</p>"
            "<h2>Events</h2>"
            + _table(["event", "why"], events)
            + "<h2>Attributes</h2>"
            + _table(["field", "type", "example", "why"], attrs)
            + "<h2>Counts</h2>"
            + _table(["field", "range", "example", "why"], counts)
        )
        return self._layout(f"{catalog.name}: what is collected", body, catalog.product)

    async def cohorts(self, catalog: Catalog) -> str:
        report = await self.reader.cohorts(catalog)
        from services.dashboard.reports import COHORT_WEEKS

        header = ["first seen (week of)", "installs"] + [
            f"+{i}" for i in range(1, COHORT_WEEKS + 1)
        ]
        rows = []
        for w in report.weeks:
            cells = [w.week.isoformat(), _n(w.installs)]
            for n in w.active:
                share = f" ({n / w.installs * 100:.0f}%)" if n is not None and w.installs else ""
                cells.append(_n(n) + share)
            cells += [""] * (len(header) - len(cells))
            rows.append(cells)
        body = (
            "<p>Of the installs first seen in a week, how many were active in each following week.</p>"
            + _table(header, rows, cls="data cohorts")
        )
        return self._layout(f"{catalog.name}: cohorts", body, catalog.product)
