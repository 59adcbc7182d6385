"""The aggregator's settings: CENSUS_AGGREGATOR_* plus the shared Kafka, PostgreSQL and log sections."""

from __future__ import annotations

import dataclasses

from services.common.ops import OpsSettings
from services.common.settings import (
    HorizonSettings,
    KafkaSettings,
    LogSettings,
    PostgresSettings,
    positive,
    setting,
)


@dataclasses.dataclass(frozen=True)
class AggregatorSettings:
    kafka: KafkaSettings = dataclasses.field(default_factory=KafkaSettings)
    pg: PostgresSettings = dataclasses.field(default_factory=PostgresSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    ops: OpsSettings = dataclasses.field(default_factory=OpsSettings)
    horizons: HorizonSettings = dataclasses.field(default_factory=HorizonSettings)
    ops_port: int = setting(
        "CENSUS_AGGREGATOR_OPS_PORT", 9102, "ops server port (0: any free port)"
    )
    group: str = setting("CENSUS_AGGREGATOR_GROUP", "census-aggregator", "Kafka consumer group")
    batch_records: int = setting(
        "CENSUS_AGGREGATOR_BATCH_RECORDS", 20000, "flush when a batch holds this many records"
    )
    # 0.25 s, not 1 s: at 5,000 pings/s the lag's p99 was 1.71 s with 1 s and 0.87 s with
    # 0.25 s (bench/aggregate.py, one A/B), at the same CPU per ping; under a backlog a batch
    # fills while the flush before it runs, so the interval costs nothing at high rates.
    flush_interval_s: float = setting(
        "CENSUS_AGGREGATOR_FLUSH_INTERVAL_S", 0.25, "flush a batch at the latest this old (<= 1)"
    )
    flush_lanes: int = setting(
        "CENSUS_AGGREGATOR_FLUSH_LANES",
        2,
        "concurrent flush transactions per batch, one PostgreSQL connection each (1 to 8)",
    )
    retry_max_s: float = setting(
        "CENSUS_AGGREGATOR_RETRY_MAX_S", 10.0, "longest back-off between PostgreSQL retries"
    )
    statement_timeout_s: float = setting(
        "CENSUS_AGGREGATOR_STATEMENT_TIMEOUT_S", 60.0, "PostgreSQL statement timeout of a flush"
    )

    def __post_init__(self) -> None:
        if not 0 <= self.ops_port <= 65535:
            raise ValueError(f"CENSUS_AGGREGATOR_OPS_PORT is not a port: {self.ops_port}")
        if not self.group.strip():
            raise ValueError("CENSUS_AGGREGATOR_GROUP must not be empty")
        positive("CENSUS_AGGREGATOR_BATCH_RECORDS", self.batch_records)
        positive("CENSUS_AGGREGATOR_FLUSH_INTERVAL_S", self.flush_interval_s)
        if self.flush_interval_s > 1.0:
            raise ValueError(
                f"CENSUS_AGGREGATOR_FLUSH_INTERVAL_S must be at most 1, got {self.flush_interval_s}"
            )
        if not 1 <= self.flush_lanes <= 8:
            raise ValueError(
                f"CENSUS_AGGREGATOR_FLUSH_LANES must be 1 to 8, got {self.flush_lanes}"
            )
        positive("CENSUS_AGGREGATOR_RETRY_MAX_S", self.retry_max_s)
        positive("CENSUS_AGGREGATOR_STATEMENT_TIMEOUT_S", self.statement_timeout_s)
