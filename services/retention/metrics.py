"""The retention worker's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RetentionMetrics:
    """census_retention_*; the `table` label takes values from census_partitioned_tables only."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.partitions_created = Counter(
            "census_retention_partitions_created_total",
            "Day partitions created ahead",
            ["table"],
            registry=registry,
        )
        self.partitions_dropped = Counter(
            "census_retention_partitions_dropped_total",
            "Day partitions dropped past their horizon",
            ["table"],
            registry=registry,
        )
        self.rows_purged = Counter(
            "census_retention_rows_purged_total",
            "Rows purged past their horizon (method=drop: estimated from pg_class.reltuples; "
            "method=delete: exact)",
            ["table", "method"],
            registry=registry,
        )
        self.pass_duration = Histogram(
            "census_retention_pass_duration_seconds",
            "Duration of retention passes that ran (not skipped ones)",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=registry,
        )
        self.last_success = Gauge(
            "census_retention_last_success_timestamp_seconds",
            "Unix time the last pass finished without a failure",
            registry=registry,
        )
        self.failures = Counter(
            "census_retention_failures_total",
            "Steps or passes that failed (retried on the next pass)",
            ["step"],
            registry=registry,
        )
        self.unpurged_partitions = Gauge(
            "census_retention_unpurged_partitions",
            "Partitions still holding rows past the horizon after the last pass (0 when all purged)",
            ["table"],
            registry=registry,
        )
        self.unpurged_rows = Gauge(
            "census_retention_unpurged_rows",
            "Rows still past the horizon after the last pass",
            ["table"],
            registry=registry,
        )
        self.skipped_passes = Counter(
            "census_retention_skipped_passes_total",
            "Passes skipped because another worker held the advisory lock",
            registry=registry,
        )
