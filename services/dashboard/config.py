"""Settings of `census dashboard`, read from CENSUS_DASHBOARD_* (and the shared sections)."""

from __future__ import annotations

import dataclasses

from services.common.ops import OpsSettings
from services.common.settings import LogSettings, PostgresSettings, positive, setting


@dataclasses.dataclass(frozen=True)
class DashboardSettings:
    pg: PostgresSettings = dataclasses.field(default_factory=PostgresSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    ops: OpsSettings = dataclasses.field(default_factory=OpsSettings)
    analyst_dsn: str = setting(
        "CENSUS_DASHBOARD_PG_DSN",
        "",
        "PostgreSQL URL of the read-only census_analyst role (default: CENSUS_PG_DSN)",
    )
    host: str = setting(
        "CENSUS_DASHBOARD_HOST", "127.0.0.1", "public bind address (containers set 0.0.0.0)"
    )
    port: int = setting("CENSUS_DASHBOARD_PORT", 8081, "public port: pages and /api/v1/")
    ops_port: int = setting(
        "CENSUS_DASHBOARD_OPS_PORT", 9104, "ops port: /metrics /healthz /readyz"
    )
    min_installs: int = setting(
        "CENSUS_DASHBOARD_MIN_INSTALLS",
        5,
        "k: no published number is backed by fewer installs (smaller groups fold into other)",
    )
    min_runs: int = setting(
        "CENSUS_DASHBOARD_MIN_RUNS", 10, "runs before a failure rate is shown (at least k)"
    )
    cache_s: float = setting(
        "CENSUS_DASHBOARD_CACHE_S", 30.0, "seconds an answer is cached and may be cached by clients"
    )
    cache_entries: int = setting("CENSUS_DASHBOARD_CACHE_ENTRIES", 512, "answers kept in the cache")
    statement_timeout_ms: int = setting(
        "CENSUS_DASHBOARD_STATEMENT_TIMEOUT_MS", 5000, "statement_timeout of every query"
    )
    pool_size: int = setting("CENSUS_DASHBOARD_POOL_SIZE", 4, "PostgreSQL connections (at most)")
    max_days: int = setting("CENSUS_DASHBOARD_MAX_DAYS", 400, "longest from..to range accepted")
    metrics_interval_s: float = setting(
        "CENSUS_DASHBOARD_METRICS_INTERVAL_S", 60.0, "seconds between refreshes of the gauges"
    )
    metrics_top: int = setting(
        "CENSUS_DASHBOARD_METRICS_TOP", 10, "values per outcome dimension exported as gauges"
    )

    @property
    def dsn(self) -> str:
        return self.analyst_dsn or self.pg.dsn

    def __post_init__(self) -> None:
        if self.analyst_dsn and not self.analyst_dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("CENSUS_DASHBOARD_PG_DSN must be a postgresql:// URL")
        positive("CENSUS_DASHBOARD_MIN_INSTALLS", self.min_installs)
        positive("CENSUS_DASHBOARD_CACHE_S", self.cache_s)
        positive("CENSUS_DASHBOARD_CACHE_ENTRIES", self.cache_entries)
        positive("CENSUS_DASHBOARD_STATEMENT_TIMEOUT_MS", self.statement_timeout_ms)
        positive("CENSUS_DASHBOARD_POOL_SIZE", self.pool_size)
        positive("CENSUS_DASHBOARD_MAX_DAYS", self.max_days)
        positive("CENSUS_DASHBOARD_METRICS_INTERVAL_S", self.metrics_interval_s)
        positive("CENSUS_DASHBOARD_METRICS_TOP", self.metrics_top)
        if self.min_runs < self.min_installs:
            raise ValueError(
                f"CENSUS_DASHBOARD_MIN_RUNS ({self.min_runs}) must be at least "
                f"CENSUS_DASHBOARD_MIN_INSTALLS ({self.min_installs})"
            )
        for name, port in (
            ("CENSUS_DASHBOARD_PORT", self.port),
            ("CENSUS_DASHBOARD_OPS_PORT", self.ops_port),
        ):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} is not a port: {port}")
