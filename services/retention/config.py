"""The retention worker's settings, read from `CENSUS_RETENTION_*` variables."""

from __future__ import annotations

import dataclasses

from services.common.ops import OpsSettings
from services.common.settings import LogSettings, PostgresSettings, positive, setting


@dataclasses.dataclass(frozen=True)
class RetentionSettings:
    pg: PostgresSettings = dataclasses.field(default_factory=PostgresSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    ops: OpsSettings = dataclasses.field(default_factory=OpsSettings)
    ops_port: int = setting("CENSUS_RETENTION_OPS_PORT", 9103, "ops port (not used with --once)")
    interval_s: float = setting("CENSUS_RETENTION_INTERVAL_S", 3600.0, "seconds between passes")
    ahead_days: int = setting(
        "CENSUS_RETENTION_AHEAD_DAYS",
        7,
        "days of partitions kept created beyond the furthest day a writer may write",
    )
    install_days: int = setting(
        "CENSUS_RETENTION_INSTALL_DAYS", 90, "days kept of rows holding an install_id"
    )
    rollup_days: int = setting(
        "CENSUS_RETENTION_ROLLUP_DAYS", 400, "days kept of anonymous rollups"
    )
    lock_timeout_ms: int = setting(
        "CENSUS_RETENTION_LOCK_TIMEOUT_MS", 2000, "lock_timeout of each step's transaction"
    )
    step_attempts: int = setting(
        "CENSUS_RETENTION_STEP_ATTEMPTS", 4, "tries of a step before it waits for the next pass"
    )
    retry_backoff_s: float = setting(
        "CENSUS_RETENTION_RETRY_BACKOFF_S", 0.5, "first retry delay of a step; doubles each try"
    )
    delete_batch: int = setting(
        "CENSUS_RETENTION_DELETE_BATCH", 5000, "rows per DELETE where no partition can be dropped"
    )

    def __post_init__(self) -> None:
        positive("CENSUS_RETENTION_INTERVAL_S", self.interval_s)
        positive("CENSUS_RETENTION_INSTALL_DAYS", self.install_days)
        positive("CENSUS_RETENTION_ROLLUP_DAYS", self.rollup_days)
        positive("CENSUS_RETENTION_LOCK_TIMEOUT_MS", self.lock_timeout_ms)
        positive("CENSUS_RETENTION_STEP_ATTEMPTS", self.step_attempts)
        positive("CENSUS_RETENTION_RETRY_BACKOFF_S", self.retry_backoff_s)
        positive("CENSUS_RETENTION_DELETE_BATCH", self.delete_batch)
        if self.ahead_days < 0:
            raise ValueError(f"CENSUS_RETENTION_AHEAD_DAYS must be >= 0, got {self.ahead_days}")
        if not 0 <= self.ops_port <= 65535:
            raise ValueError(f"CENSUS_RETENTION_OPS_PORT is not a port: {self.ops_port}")
