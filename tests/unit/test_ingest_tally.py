"""The tallies expose what prometheus_client's Counter and Histogram would (but `_created`)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from services.ingest.tally import CounterTally, HistogramTally, no_labels

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def exposed(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0.0],
        [0.001],
        [0.0010001, 0.003, 0.003, 1, 10, 10.5, 99.0],
        [i / 997 for i in range(3000)],
    ],
)
def test_a_histogram_tally_exposes_what_a_histogram_would(values: list[float]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("x_seconds", "how long", buckets=BUCKETS, registry=theirs)
    tally = HistogramTally("x_seconds", "how long", BUCKETS, registry=ours)
    for value in values:
        histogram.observe(value)
        tally.observe(value)
    assert exposed(ours) == exposed(theirs)


def test_a_counter_tally_exposes_what_a_labelled_counter_would() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("y_total", "how many", ["route", "status"], registry=theirs)
    counter.labels("/a", "200")  # seeded: shown at 0

    def labels(key: tuple[str, int]) -> tuple[str, str]:
        route, status = key
        return (route if route.startswith("/") else "other", str(status))

    tally: CounterTally[tuple[str, int]] = CounterTally(
        "y_total", "how many", ["route", "status"], labels, registry=ours, seed=[("/a", 200)]
    )
    for route, status, amount in [("/b", 202, 1), ("/b", 202, 3), ("x", 404, 1), ("y", 404, 2)]:
        tally.inc((route, status), amount)
        counter.labels(*labels((route, status))).inc(amount)
    assert exposed(ours) == exposed(theirs)
    assert ours.get_sample_value("y_total", {"route": "other", "status": "404"}) == 3


def test_an_unlabelled_counter_tally_is_shown_from_the_start() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    Counter("z_total", "pings", registry=theirs)
    tally: CounterTally[None] = CounterTally(
        "z_total", "pings", [], no_labels, registry=ours, seed=[None]
    )
    assert exposed(ours) == exposed(theirs)
    tally.inc(None, 5)
    assert ours.get_sample_value("z_total") == 5
