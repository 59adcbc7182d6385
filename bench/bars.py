"""The bars a bench is held to, and whether this run's figures meet them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NOT_MEASURED = "not measured"


@dataclass(frozen=True, slots=True)
class Bar:
    """`figure op target`, e.g. aggregate_vs_floor >= 0.25; `why` says where the bar comes from."""

    figure: str
    op: str  # ">=" or "<="
    target: float
    why: str = ""
    target_text: str = ""  # when the target is not a constant, e.g. "the previous run's x1.1"

    def verdict(self, figures: Mapping[str, Any]) -> str:
        value = figures.get(self.figure)
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return NOT_MEASURED
        if math.isnan(self.target):
            return NOT_MEASURED
        met = value >= self.target if self.op == ">=" else value <= self.target
        return "met" if met else "missed"

    def label(self) -> str:
        target = self.target_text or f"{self.target:g}"
        return f"{self.figure} {self.op} {target}"


def report(bars: Sequence[Bar], figures: Mapping[str, Any]) -> dict[str, str]:
    """Prints `bar <figure> <op> <target>: met|missed|not measured` per bar; returns them."""
    verdicts: dict[str, str] = {}
    for bar in bars:
        verdict = bar.verdict(figures)
        note = f" ({bar.why})" if bar.why and verdict == NOT_MEASURED else ""
        print(f"bar {bar.label()}: {verdict}{note}", flush=True)
        verdicts[bar.label()] = verdict
    return verdicts
