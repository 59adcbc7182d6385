"""Capacity model: what 10 k, 1 M and 100 M installs need at daily and hourly cadence, computed
from the per-ping costs the benches measured (bench/results/ingest.json and aggregate.json).

Not a bench: it measures nothing, it multiplies. Prints the inputs it used, its assumptions and a
Markdown table (docs/capacity.md holds one run's output).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

FLEETS = (10_000, 1_000_000, 100_000_000)
PEAK_FACTOR = 3.0  # the busiest second over the day's mean: fleets restart and cron together
UTILIZATION = 0.6  # cores and replicas sized to run at most this busy at the peak
INSTALL_DAYS = 90  # per-install horizon (install_days, install_activity)
ROLLUP_DAYS = 400  # rollups kept
KAFKA_DAYS = 7  # CENSUS_KAFKA_RETENTION_MS's default
KAFKA_REPLICAS = 3  # replication factor in production
DEFAULT_PARTITIONS = 12  # CENSUS_KAFKA_PARTITIONS's default
# Where one PostgreSQL primary stops being the comfortable answer for the per-install tables.
ONE_PRIMARY_CORES = 16
ONE_PRIMARY_BYTES = 2e12


@dataclass(frozen=True, slots=True)
class Cadence:
    name: str
    pings_per_install_day: int
    mix: str  # the aggregate bench's mix whose per-ping costs stand for it: "" or "realistic_"


CADENCES = (
    # Daily: one ping per install-day, every ping a new install_days row: the write-heavy mix.
    Cadence("daily", 1, ""),
    # Hourly: 24 pings per install-day, most of them updates of a row: the realistic mix.
    Cadence("hourly", 24, "realistic_"),
)


def load() -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("ingest", "aggregate"):
        path = RESULTS / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def figure(results: dict[str, dict[str, Any]], bench: str, key: str) -> float:
    value = results.get(bench, {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def next_power_of_two(n: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


def human_bytes(n: float) -> str:
    if math.isnan(n):
        return "n/a"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def cores(n: float) -> str:
    if math.isnan(n):
        return "n/a"
    return f"{n:.2f}" if n < 10 else f"{n:.0f}"


def whole(n: float) -> str:
    return "n/a" if math.isnan(n) else str(max(1, math.ceil(n)))


def compat_cost(results: dict[str, dict[str, Any]]) -> float:
    """The costliest compat route's CPU per request: every ping of a fleet may come that way."""
    ingest = results.get("ingest", {})
    costs = [
        float(v)
        for k, v in ingest.items()
        if k.startswith("compat_") and k.endswith("_cpu_us_per_request")
    ]
    return max(costs) if costs else math.nan


def rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    single_us = figure(results, "ingest", "ingest_cpu_us_per_request")
    compat_us = compat_cost(results)
    produce_us = figure(results, "ingest", "kafka_cpu_us_per_batch_ping")
    out = []
    for cadence in CADENCES:
        mix = cadence.mix

        def agg(key: str, mix: str = mix) -> float:
            return figure(results, "aggregate", mix + key)

        per_replica = agg("aggregate_pings_per_s")
        pg_us = agg("postgres_cpu_us_per_ping")
        consume_us = agg("kafka_cpu_us_per_ping")
        row_bytes = agg("install_days_bytes_per_row")
        activity_bytes = agg("install_activity_bytes_per_install")
        rollup_day = agg("rollup_bytes_per_day")
        record_bytes = agg("record_bytes")
        for installs in FLEETS:
            per_day = installs * cadence.pings_per_install_day
            mean = per_day / 86400
            peak = mean * PEAK_FACTOR
            ingest = peak * single_us / 1e6 / UTILIZATION
            ingest_compat = peak * compat_us / 1e6 / UTILIZATION
            replicas = peak / (per_replica * UTILIZATION)
            partitions = max(DEFAULT_PARTITIONS, next_power_of_two(2 * math.ceil(replicas)))
            kafka = peak * (produce_us + consume_us) / 1e6 / UTILIZATION
            postgres = peak * pg_us / 1e6 / UTILIZATION
            per_install = installs * (INSTALL_DAYS * row_bytes + activity_bytes)
            rollups = ROLLUP_DAYS * rollup_day
            log = per_day * KAFKA_DAYS * record_bytes * KAFKA_REPLICAS
            one_primary = postgres <= ONE_PRIMARY_CORES and per_install <= ONE_PRIMARY_BYTES
            out.append(
                [
                    f"{installs:,}",
                    cadence.name,
                    f"{mean:,.1f}",
                    f"{peak:,.1f}" if peak < 100 else f"{peak:,.0f}",
                    f"{cores(ingest)} / {cores(ingest_compat)}",
                    whole(replicas),
                    str(partitions),
                    cores(kafka),
                    cores(postgres),
                    human_bytes(per_install),
                    human_bytes(rollups),
                    human_bytes(log),
                    "one primary" if one_primary else "Citus (install_days by install_id)",
                ]
            )
    return out


HEADER = [
    "installs",
    "cadence",
    "mean pings/s",
    "peak pings/s",
    "ingest cores (/v1/ping / costliest compat)",
    "aggregator replicas",
    "Kafka partitions",
    "Kafka broker cores",
    "PostgreSQL cores",
    "per-install tables (90 d)",
    "rollups (400 d)",
    "Kafka log (7 d, x3)",
    "per-install tables on",
]

INPUTS = (
    ("ingest", "ingest_cpu_us_per_request"),
    ("ingest", "kafka_cpu_us_per_batch_ping"),
    ("aggregate", "aggregate_pings_per_s"),
    ("aggregate", "postgres_cpu_us_per_ping"),
    ("aggregate", "kafka_cpu_us_per_ping"),
    ("aggregate", "install_days_bytes_per_row"),
    ("aggregate", "install_activity_bytes_per_install"),
    ("aggregate", "rollup_bytes_per_day"),
    ("aggregate", "record_bytes"),
    ("aggregate", "realistic_aggregate_pings_per_s"),
    ("aggregate", "realistic_postgres_cpu_us_per_ping"),
    ("aggregate", "realistic_kafka_cpu_us_per_ping"),
    ("aggregate", "realistic_install_days_bytes_per_row"),
    ("aggregate", "realistic_rollup_bytes_per_day"),
    ("aggregate", "realistic_record_bytes"),
)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model})"


def main() -> int:
    results = load()
    if "aggregate" not in results or "ingest" not in results:
        print(
            "bench/capacity.py: run bench/ingest.py and bench/aggregate.py first "
            f"(found {sorted(results) or 'nothing'} in {RESULTS})",
            file=sys.stderr,
        )
        return 2
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"inputs: {RESULTS}/{{ingest,aggregate}}.json")
    for bench, key in INPUTS:
        print(f"  {bench}.{key}: {figure(results, bench, key):g}")
    print(f"  ingest: costliest compat route cpu_us_per_request: {compat_cost(results):g}")
    print(
        f"assumptions: peak = {PEAK_FACTOR:g} x mean; cores and replicas at most "
        f"{UTILIZATION:.0%} busy at the peak; every install active every day; "
        f"{INSTALL_DAYS} days of install days, {ROLLUP_DAYS} days of rollups, Kafka "
        f"{KAFKA_DAYS} days x {KAFKA_REPLICAS} replicas, uncompressed; one primary up to "
        f"{ONE_PRIMARY_CORES} cores and {human_bytes(ONE_PRIMARY_BYTES)} of per-install tables"
    )
    print()
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" for _ in HEADER) + "|")
    for row in rows(results):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
