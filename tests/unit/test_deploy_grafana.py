"""deploy/grafana/census.json parses, and every panel's expression names only metrics the
services' code registers (or recording rules of deploy/prometheus/rules.yml)."""

from __future__ import annotations

import json
from typing import Any, Final

from tests.support.prometheus import (
    DEPLOY,
    code_metric_names,
    grafana_expressions,
    promql_metric_names,
    recorded_names,
)

DASHBOARD: Final = DEPLOY / "grafana" / "census.json"

# What issue 7 asks the dashboard to show, by a metric each topic needs.
REQUIRED: Final = {
    "ingest rate": "census_ingest_pings_accepted_total",
    "status codes": "census_ingest_requests_total",
    "produce latency": "census_ingest_produce_latency_seconds_bucket",
    "lag per partition": "census_aggregator_lag_records",
    "flush latency": "census_aggregator_flush_latency_seconds_bucket",
    "batch size": "census_aggregator_batch_size_bucket",
    "DLQ": "census_aggregator_dlq_records_total",
    "retention passes": "census_retention_pass_duration_seconds_count",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def test_dashboard_parses_and_has_an_identity() -> None:
    data = dashboard()
    assert data["uid"] and data["title"]
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_every_panel_queries_the_chosen_prometheus() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]


def test_every_expression_names_a_metric_the_services_export() -> None:
    known = code_metric_names() | recorded_names() | {"up"}
    unknown = [
        (title, name)
        for title, expr in grafana_expressions(dashboard())
        for name in promql_metric_names(expr)
        if name not in known
    ]
    assert unknown == []


def test_the_dashboard_shows_what_the_issue_asks() -> None:
    used = {
        name for _, expr in grafana_expressions(dashboard()) for name in promql_metric_names(expr)
    }
    missing = {topic: metric for topic, metric in REQUIRED.items() if metric not in used}
    assert missing == {}
