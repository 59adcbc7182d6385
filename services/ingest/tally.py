"""Counters and a histogram kept as plain numbers, turned into metric families at scrape time.

prometheus_client's `Counter.inc` and `Histogram.observe` take a lock each, for threads ingest
does not have (one event loop does every request): the four a /v1/ping request made were
2.3 us of its 70-odd. Here a request adds to a dict entry or a list slot, and the registry's
`collect()` builds the same families (names, help, labels, buckets) the client library would
expose, without the `_created` series, which no rule or dashboard reads.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

K = TypeVar("K", bound=Hashable)


class CounterTally(Generic[K]):
    """A counter by key; `labels(key)` names the key's series when scraped (keys that name
    the same series are added up)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        labels: Callable[[K], tuple[str, ...]],
        *,
        registry: CollectorRegistry,
        seed: Iterable[K] = (),
    ) -> None:
        """`seed`: keys exposed at 0 before anything is counted under them."""
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._labels = labels
        self.totals: dict[K, float] = dict.fromkeys(seed, 0)
        """Key → total; the hot path adds here directly."""
        registry.register(self)

    def inc(self, key: K, amount: float = 1) -> None:
        totals = self.totals
        totals[key] = totals.get(key, 0) + amount

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        series: dict[tuple[str, ...], float] = {}
        for key, total in list(self.totals.items()):  # a copy: collect may run in a thread
            labels = self._labels(key)
            series[labels] = series.get(labels, 0) + total
        family = self._family()
        for labels, total in series.items():
            family.add_metric(labels, total)
        yield family


def no_labels(_key: None) -> tuple[str, ...]:
    return ()


def _bound(bound: float) -> str:
    """An `le` label as prometheus_client writes it (0.001, 1.0, +Inf)."""
    return "+Inf" if bound == float("inf") else repr(bound)


class HistogramTally:
    """A histogram without labels: a count per bucket (upper bounds inclusive) and a sum."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        *,
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(sorted(float(b) for b in buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf's own
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def _family(self, buckets: list[tuple[str, float]] | None, total: float | None) -> Metric:
        return HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=total
        )

    def describe(self) -> Iterator[Metric]:
        yield self._family(None, None)

    def collect(self) -> Iterator[Metric]:
        counts, total = list(self._counts), self._sum
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
            running += count
            buckets.append((_bound(bound), running))
        yield self._family(buckets, total)
