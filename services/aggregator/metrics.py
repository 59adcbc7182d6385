"""The aggregator's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DLQ_REASONS = ("undecodable", "unknown_product", "unknown_event", "unstorable")
"""unstorable: PostgreSQL refused a value the record carries (services/aggregator/writer.py)."""
SKIP_REASONS = ("over_cap", "past_install_horizon", "past_horizons")
"""Why a ping moved no per-install figure: its install's cap for the day was reached (counted
nowhere), it is past the per-install horizon (counted in events only), or past every horizon."""


@dataclass(frozen=True)
class AggregatorMetrics:
    records_consumed: Counter
    duplicates: Counter
    rows_written: Counter
    flush_latency: Histogram
    batch_size: Histogram
    flush_errors: Counter
    lag: Gauge
    dlq_records: Counter
    last_flush: Gauge
    skipped: Counter
    fenced: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AggregatorMetrics:
        p = "census_aggregator_"
        metrics = cls(
            records_consumed=Counter(
                p + "records_consumed", "records taken from Kafka", registry=registry
            ),
            duplicates=Counter(
                p + "duplicate_pings",
                "retried pings (a ping_id already counted)",
                registry=registry,
            ),
            rows_written=Counter(p + "rows_written", "PostgreSQL rows written", registry=registry),
            flush_latency=Histogram(
                p + "flush_latency_seconds",
                "duration of one flush transaction",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=registry,
            ),
            batch_size=Histogram(
                p + "batch_size",
                "records per flush",
                buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000),
                registry=registry,
            ),
            flush_errors=Counter(
                p + "flush_errors", "flushes that failed and were retried", registry=registry
            ),
            lag=Gauge(
                p + "lag_records",
                "records between the stored offset and the partition's end",
                ["partition"],
                registry=registry,
            ),
            dlq_records=Counter(
                p + "dlq_records",
                "records sent to the dead-letter topic",
                ["reason"],
                registry=registry,
            ),
            last_flush=Gauge(
                p + "last_flush_timestamp_seconds",
                "when the last flush committed",
                registry=registry,
            ),
            skipped=Counter(
                p + "skipped_pings",
                "pings that moved no per-install figure, by reason",
                ["reason"],
                registry=registry,
            ),
            fenced=Counter(
                p + "fenced_flushes",
                "flushes refused because another member had moved the stored offsets",
                registry=registry,
            ),
        )
        for reason in DLQ_REASONS:
            metrics.dlq_records.labels(reason=reason)
        for reason in SKIP_REASONS:
            metrics.skipped.labels(reason=reason)
        return metrics

    def flushed(self, over_cap: int, events_only: int, too_old: int) -> None:
        """Count what a flush skipped (services.aggregator.flush.FlushResult)."""
        for reason, n in zip(SKIP_REASONS, (over_cap, events_only, too_old), strict=True):
            if n:
                self.skipped.labels(reason=reason).inc(n)
