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


def _complete(kept: dict[str, int], total: int, k: int) -> int:
    """Folds the smallest kept cells until "other" (total - kept) is 0 or >= k; returns other."""
    other = total - sum(kept.values())
    while 0 < other < k and kept:
        smallest = min(kept, key=lambda v: (kept[v], v))
        other += kept.pop(smallest)
    return other


def fold_dimensions(
    atoms: Mapping[tuple[str, ...], int], dimensions: int, k: int
) -> list[Folded[str]] | None:
    """Breakdowns by each of `dimensions` key positions of a joint table (atom = one key),
    published side by side: each is folded, and then, because a cell of one dimension may
    contain a cell of another (every install of release 2.0 runs on linux), any two published
    groups where one contains the other and they differ by 1..k-1 installs cost the smaller cell
    (or, when both are "other", the smallest cell of the first) until none do. None when the
    total is under k."""
    total = sum(atoms.values())
    if total < max(k, 1):
        return None
    keys = list(atoms)
    everyone = (1 << len(keys)) - 1
    masks: list[dict[str, int]] = []
    sizes: list[dict[str, int]] = []
    for d in range(dimensions):
        m: dict[str, int] = {}
        n: dict[str, int] = {}
        for bit, key in enumerate(keys):
            m[key[d]] = m.get(key[d], 0) | (1 << bit)
            n[key[d]] = n.get(key[d], 0) + atoms[key]
        masks.append(m)
        sizes.append(n)
    kept: list[dict[str, int]] = []
    others: list[int] = []
    for d in range(dimensions):
        cells = {v: c for v, c in sizes[d].items() if c >= k}
        others.append(_complete(cells, total, k))
        kept.append(cells)

    def groups() -> list[tuple[int, str | None, int, int]]:
        """(dimension, value or None for other, mask, size) of every published group."""
        out: list[tuple[int, str | None, int, int]] = []
        for d in range(dimensions):
            shown = 0
            for v, c in kept[d].items():
                out.append((d, v, masks[d][v], c))
                shown |= masks[d][v]
            if others[d]:
                out.append((d, None, everyone & ~shown, others[d]))
        return out

    while True:
        violation = None
        published = groups()
        for i, (da, va, ma, na) in enumerate(published):
            for db, vb, mb, nb in published[i + 1 :]:
                if da == db:
                    continue
                if (ma & ~mb == 0 or mb & ~ma == 0) and not publishable(abs(na - nb), k):
                    small, large = (
                        ((da, va, na), (db, vb, nb)) if na <= nb else ((db, vb, nb), (da, va, na))
                    )
                    violation = (small, large)
                    break
            if violation:
                break
        if violation is None:
            break
        (ds, vs, _), (dl, vl, _) = violation
        if vs is not None:
            d, drop = ds, vs
        elif vl is not None:
            d, drop = dl, vl
        else:
            d = ds
            drop = min(kept[d], key=lambda v: (kept[d][v], v))
        kept[d].pop(drop)
        others[d] = _complete(kept[d], total, k)
    return [
        Folded(dict(sorted(kept[d].items(), key=lambda kv: (-kv[1], kv[0]))), others[d], total)
        for d in range(dimensions)
    ]


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
