"""A real Prometheus (Debian's package) on loopback scrapes the three running services with
deploy/prometheus/rules.yml loaded: every target is up, the rules evaluate, and the accepted-pings
counter equals the number of pings this test sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
import pytest

from tests.support.ingest import encode, pulse_ping
from tests.support.pipeline import Pipeline, running_pipeline
from tests.support.processes import ServiceProcess
from tests.support.prometheus import (
    DEPLOY,
    FOREIGN_METRICS,
    PROMETHEUS_DIR,
    RULES,
    PrometheusServer,
    exposition_metric_names,
    free_port,
    grafana_expressions,
    load_yaml,
    promql_metric_names,
    recorded_names,
    rules,
)
from tests.support.retention import as_role
from tests.support.stack import StackEndpoints

PINGS: Final = 20
# The job names of the deployed scrape config: the rules and the dashboard select on them.
JOBS: Final = tuple(
    job["job_name"] for job in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]
)


def ops_ports(pipeline: Pipeline, dashboard: ServiceProcess) -> dict[str, int]:
    """Each deployed job's target, as the ops port of the matching test process."""
    assert pipeline.retention is not None
    ports = {
        "census-ingest": pipeline.ingest.ops_port,
        "census-aggregator": pipeline.aggregator.ops_port,
        "census-retention": pipeline.retention.ops_port,
        "census-dashboard": dashboard.ops_port,
    }
    assert set(ports) == set(JOBS)
    return ports


@dataclass
class Observed:
    pipeline: Pipeline
    dashboard: ServiceProcess
    prometheus: PrometheusServer

    def ops_ports(self) -> dict[str, int]:
        return ops_ports(self.pipeline, self.dashboard)


def scrape_config(ports: dict[str, int]) -> str:
    """deploy/prometheus/prometheus.yml's jobs, on loopback ports, scraped every second."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in ports.items()
        ],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


@pytest.fixture(scope="module")
async def observed(
    stack_endpoints: StackEndpoints, database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Observed]:
    work = tmp_path_factory.mktemp("prometheus-scrape")
    async with running_pipeline(
        bootstrap=stack_endpoints.bootstrap, dsn=database, logs=work, with_retention=True
    ) as pipeline:
        dashboard_ops = free_port()
        dashboard = ServiceProcess(
            ["dashboard"],
            {
                "CENSUS_PG_DSN": as_role(database, "census_analyst"),
                "CENSUS_DASHBOARD_PORT": str(free_port()),
                "CENSUS_DASHBOARD_OPS_PORT": str(dashboard_ops),
            },
            dashboard_ops,
            work / "dashboard.log",
        )
        await dashboard.start()
        try:
            config = work / "prometheus.yml"
            config.write_text(scrape_config(ops_ports(pipeline, dashboard)))
            storage = work / "tsdb"
            storage.mkdir()
            async with PrometheusServer(
                config, storage, free_port(), work / "prometheus.log"
            ) as prometheus:
                yield Observed(pipeline, dashboard, prometheus)
        finally:
            await dashboard.stop()


async def eventually(
    probe: Callable[[], Awaitable[object]], expected: object, *, within_s: float = 30.0
) -> object:
    """Poll `probe` until it returns `expected`; the last value otherwise (for the assertion)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await probe()
        if value == expected or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.25)


async def scalar(prometheus: PrometheusServer, expr: str) -> float | None:
    """The single value of `expr`, or None while it has no series."""
    result = await prometheus.query(expr)
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])


async def test_every_target_is_up(observed: Observed) -> None:
    async def health() -> dict[str, str]:
        targets = await observed.prometheus.targets()
        return {t["labels"]["job"]: t["health"] for t in targets}

    assert await eventually(health, dict.fromkeys(JOBS, "up")) == dict.fromkeys(JOBS, "up")

    async def up() -> float | None:
        return await scalar(observed.prometheus, 'sum(up{job=~"census-.*"})')

    assert await eventually(up, float(len(JOBS))) == float(len(JOBS))


async def test_accepted_counter_equals_the_pings_sent(observed: Observed) -> None:
    prometheus = observed.prometheus
    accepted = "sum(census_ingest_pings_accepted_total)"
    assert await eventually(lambda: scalar(prometheus, accepted), 0.0) == 0.0

    async with aiohttp.ClientSession() as session:
        for _ in range(PINGS):
            async with session.post(
                f"{observed.pipeline.ingest_url}/v1/ping",
                data=encode(pulse_ping()),
                headers={"Content-Type": "application/json"},
            ) as response:
                assert response.status == 202, await response.text()

    assert await eventually(lambda: scalar(prometheus, accepted), float(PINGS)) == float(PINGS)
    statuses = 'sum(census_ingest_requests_total{route="/v1/ping",status="202"})'
    assert await scalar(prometheus, statuses) == float(PINGS)
    # ... and the aggregator, scraped by the same Prometheus, consumed every one of them.
    consumed = "sum(census_aggregator_records_consumed_total)"
    assert await eventually(lambda: scalar(prometheus, consumed), float(PINGS)) == float(PINGS)
    lag = "sum(census_aggregator_lag_records)"
    assert await eventually(lambda: scalar(prometheus, lag), 0.0) == 0.0


async def test_retention_reports_a_successful_pass(observed: Observed) -> None:
    async def succeeded() -> bool:
        value = await scalar(
            observed.prometheus, "max(census_retention_last_success_timestamp_seconds)"
        )
        return value is not None and value > 0

    assert await eventually(succeeded, True) is True


async def test_every_rule_loads_and_evaluates_without_error(observed: Observed) -> None:
    async def healthy() -> int:
        groups = await observed.prometheus.rule_groups()
        loaded = [rule for group in groups for rule in group["rules"]]
        assert len(loaded) == len(rules())
        errors = [(r["name"], r.get("lastError")) for r in loaded if r["health"] == "err"]
        assert errors == []
        return sum(1 for r in loaded if r["health"] == "ok")

    assert await eventually(healthy, len(rules())) == len(rules())

    # A recording rule over the counter this module drove gets a value once Prometheus has two
    # scrapes of it inside the rate window and has evaluated the rule after them.
    async def recorded() -> int:
        return len(await observed.prometheus.query("census:ingest_pings_accepted:rate5m"))

    assert await eventually(recorded, 1) == 1


async def _live_names(observed: Observed) -> set[str]:
    names: set[str] = set()
    async with aiohttp.ClientSession() as session:
        for port in observed.ops_ports().values():
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                names |= exposition_metric_names(await response.text())
    return names


async def test_every_dashboard_metric_is_on_a_live_metrics_page(observed: Observed) -> None:
    live = await _live_names(observed)
    dashboard = json.loads((DEPLOY / "grafana" / "census.json").read_text())
    unknown = [
        (title, name)
        for title, expr in grafana_expressions(dashboard)
        for name in promql_metric_names(expr)
        if name not in live | recorded_names() | {"up"}
    ]
    assert unknown == []


async def test_every_rule_metric_is_on_a_live_metrics_page(observed: Observed) -> None:
    live = await _live_names(observed)
    unknown = {
        (rule.get("alert") or rule.get("record"), name)
        for rule in rules()
        for name in promql_metric_names(rule["expr"])
        if name not in live | recorded_names() | FOREIGN_METRICS
    }
    assert unknown == set()
