"""Charts as server-rendered SVG: no script, no request to any other host. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[dt.date, float | None]]


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v != int(v) else str(int(v))


def empty(title: str) -> str:
    return f'<p class="nodata" data-chart-empty="{escape(title)}">No published data for {escape(title)} in this range.</p>'


def line_chart(title: str, series: Sequence[Series], *, percent: bool = False) -> str:
    """Lines over days; a gap where a value is not published (null)."""
    values = [v for s in series for _, v in s.points if v is not None]
    days = sorted({d for s in series for d, _ in s.points})
    if not values or not days:
        return empty(title)
    top = max(values) or 1.0
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(d: dt.date) -> float:
        return LEFT + pw * (d - first).days / span

    def y(v: float) -> float:
        return TOP + ph * (1 - v / top)

    label = (lambda v: f"{v * 100:.0f}%") if percent else _fmt
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + ph}" x2="{W - RIGHT}" y2="{TOP + ph}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{label(top)}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + ph}" text-anchor="end">0</text>',
        f'<text x="{LEFT}" y="{H - 8}">{first.isoformat()}</text>',
        f'<text x="{W - RIGHT}" y="{H - 8}" text-anchor="end">{last.isoformat()}</text>',
    ]
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        path: list[str] = []
        pen_up = True
        for d, v in sorted(s.points):
            if v is None:
                pen_up = True
                continue
            path.append(f"{'M' if pen_up else 'L'}{x(d):.1f},{y(v):.1f}")
            pen_up = False
        if path:
            parts.append(
                f'<path class="series" data-series="{escape(s.name)}" fill="none" '
                f'stroke="{color}" stroke-width="2" d="{" ".join(path)}"><title>{escape(s.name)}</title></path>'
            )
        lx = LEFT + 8 + 110 * i
        parts.append(
            f'<rect x="{lx}" y="{TOP}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{TOP + 9}">{escape(s.name[:14])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]]) -> str:
    """Vertical bars with their labels (a histogram)."""
    if not bars:
        return empty(title)
    top = max(v for _, v in bars) or 1.0
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    step = pw / len(bars)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + ph}" x2="{W - RIGHT}" y2="{TOP + ph}"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{_fmt(top)}</text>',
    ]
    for i, (name, v) in enumerate(bars):
        h = ph * v / top
        bx = LEFT + i * step + 2
        parts.append(
            f'<rect class="bar" x="{bx:.1f}" y="{TOP + ph - h:.1f}" width="{max(step - 4, 1):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(name)}: {_fmt(v)}</title></rect>'
            f'<text x="{bx + step / 2:.1f}" y="{H - 8}" text-anchor="middle">{escape(name[:10])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
