"""Minimum-count privacy: no published number is backed by fewer than k installs. Pure.

Every published table is built from *atoms*: disjoint groups of installs whose sizes are known
(a cell of the version x platform x os x arch table, "new today", "seen this week but not today").
A published number is the size of a union of atoms. If every atom that is published is empty or
holds at least k installs, every published number, and every difference of two nested published
numbers (a union of atoms minus a union of fewer of them), is 0 or at least k. Atoms smaller than
k fold into "other"; when "other" itself would be smaller than k, the smallest published atoms
join it until it is not (otherwise total - sum(published) would reveal it).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

OTHER = "other"
"""Where suppressed cells go."""


def publishable(n: int, k: int) -> bool:
    """A group size that may be shown: nobody, or at least k installs."""
    return n == 0 or n >= k


@dataclass(frozen=True)
class Folded(Generic[K]):
    """A partition of `total` after suppression: `kept` cells (each >= k) and `other` (0 or >= k)."""

    kept: dict[K, int]
    other: int
    total: int


def fold(cells: Mapping[K, int], total: int, k: int) -> Folded[K] | None:
    """Fold the cells of a partition of `total` installs (cells may cover less than `total`: the
    rest is "not reported") so that every shown cell and "other" is 0 or >= k; None when the total
    itself is smaller than k (nothing of it may be shown)."""
    if total < max(k, 1) or total < sum(cells.values()):
        return None
    kept = sorted(
        ((n, key) for key, n in cells.items() if n >= k), key=lambda c: (-c[0], str(c[1]))
    )
    other = total - sum(n for n, _ in kept)
    while 0 < other < k and kept:
        n, _ = kept.pop()
        other += n
    return Folded({key: n for n, key in kept}, other, total)


def marginal(folded: Folded[tuple[str, ...]], index: int) -> Folded[str]:
    """One dimension's breakdown from a folded joint table: sums of kept atoms, and other."""
    sums: dict[str, int] = {}
    for key, n in folded.kept.items():
        sums[key[index]] = sums.get(key[index], 0) + n
    ordered = dict(sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])))
    return Folded(ordered, folded.other, folded.total)


def accept_nested(
    candidates: Sequence[tuple[str, frozenset[str]]], atoms: Mapping[str, int], k: int
) -> set[str]:
    """The candidates (name, the atoms it is the union of) that may be published, in priority
    order: one is accepted when its size, and its difference with every accepted candidate it
    contains or is contained in, are publishable."""
    accepted: list[tuple[str, frozenset[str]]] = []

    def size(parts: frozenset[str]) -> int:
        return sum(atoms[a] for a in parts)

    for name, parts in candidates:
        if not publishable(size(parts), k):
            continue
        nested = [other for _, other in accepted if other <= parts or parts <= other]
        if all(publishable(size(parts ^ other), k) for other in nested):
            accepted.append((name, parts))
    return {name for name, _ in accepted}


@dataclass(frozen=True)
class ActivityCells:
    """One day's DAU / WAU / MAU / new installs, None where suppressed."""

    dau: int | None
    wau: int | None
    mau: int | None
    new: int | None


def activity(dau: int, wau: int, mau: int, new: int, k: int) -> ActivityCells:
    """DAU ⊆ WAU ⊆ MAU and new ⊆ DAU: published only where no difference reveals a small group."""
    new = min(new, dau)
    wau = max(wau, dau)
    mau = max(mau, wau)
    atoms = {"new": new, "returning": dau - new, "week": wau - dau, "month": mau - wau}
    accepted = accept_nested(
        [
            ("dau", frozenset({"new", "returning"})),
            ("wau", frozenset({"new", "returning", "week"})),
            ("mau", frozenset(atoms)),
            ("new", frozenset({"new"})),
        ],
        atoms,
        k,
    )
    return ActivityCells(
        dau if "dau" in accepted else None,
        wau if "wau" in accepted else None,
        mau if "mau" in accepted else None,
        new if "new" in accepted else None,
    )


def subset_of(whole: int | None, part: int, k: int) -> bool:
    """Whether `part` (a subset of a group of `whole`) may be shown next to it."""
    return part >= k and (whole is None or publishable(whole - part, k))


@dataclass(frozen=True)
class Bucket:
    """Installs whose value lies in [lo, hi)."""

    lo: int
    hi: int
    installs: int


def log2_bounds(index: int) -> tuple[int, int]:
    """Bounds of a rollup_counts histogram bucket (0-based): 0 holds 0, b holds [2^(b-1), 2^b)."""
    return (0, 1) if index == 0 else (2 ** (index - 1), 2**index)


def merge_buckets(histogram: Sequence[int], k: int) -> list[Bucket]:
    """Adjacent log2 buckets merged until each holds at least k installs (the last short run
    joins the bucket before it); empty when the histogram holds fewer than k in all."""
    merged: list[Bucket] = []
    lo: int | None = None
    run = 0
    hi = 0
    for index, n in enumerate(histogram):
        if n <= 0:
            continue
        b_lo, hi = log2_bounds(index)
        lo = b_lo if lo is None else lo
        run += n
        if run >= k:
            merged.append(Bucket(lo, hi, run))
            lo, run = None, 0
    if run > 0:
        if not merged:
            return []
        last = merged.pop()
        merged.append(Bucket(last.lo, hi, last.installs + run))
    return merged


def quantile(buckets: Sequence[Bucket], q: float, lo: int, hi: int) -> float | None:
    """The q-quantile from merged buckets: linear inside the bucket holding the rank, clamped to
    [lo, hi] (as census_histogram_quantile does on the raw histogram)."""
    total = sum(b.installs for b in buckets)
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for b in buckets:
        if b.installs > 0 and seen + b.installs >= target:
            value = b.lo + (b.hi - b.lo) * ((target - seen) / b.installs)
            return float(min(max(value, lo), hi))
        seen += b.installs
    return float(hi)
