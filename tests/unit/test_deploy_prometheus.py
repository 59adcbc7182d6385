"""deploy/prometheus: configs and rules pass promtool, every alert is tested both ways, names
only metrics the services export, and has a runbook section in docs/operations.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.aggregator.config import AggregatorSettings
from services.dashboard.config import DashboardSettings
from services.ingest.config import IngestSettings
from services.retention.config import RetentionSettings
from tests.support.ingest import TEST_ID_SECRET
from tests.support.prometheus import (
    FOREIGN_METRICS,
    OPERATIONS_DOC,
    PROMETHEUS_DIR,
    RULES,
    alerts,
    code_metric_names,
    doc_anchors,
    load_yaml,
    promql_metric_names,
    promtool,
    recorded_names,
    rules,
    runbook_anchor,
)

# The alerts issue 7 asks for, by what they watch.
REQUIRED_ALERTS = {
    "CensusTargetDown",  # a target down
    "CensusIngestServerErrors",  # ingest 5xx ratio
    "CensusIngestUnavailable",  # ingest 503 ratio
    "CensusIngestRateLimitSurge",  # 429 surge
    "CensusProductInvalidPingsJump",  # a product's 422 ratio jumping
    "CensusConsumerLagGrowing",  # consumer lag growing
    "CensusAggregatorNotFlushing",  # no successful flush for 5 minutes
    "CensusDeadLetters",  # DLQ growth
    "CensusRetentionStale",  # retention's last success older than 2 passes
    "CensusFailureRateHigh",  # a script's failure rate over 20 % with at least 10 runs
    "CensusDailyActiveDrop",  # a product's DAU dropping sharply day over day
    "CensusNoFreshData",  # no rollups committed for an hour
}


def _ok(result: Any) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


def test_scrape_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    _ok(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_kubernetes_scrape_config_passes_promtool_with_discovery_replaced(tmp_path: Path) -> None:
    # Debian's Prometheus is built without Kubernetes discovery, so check everything else: swap
    # the discovery block for a static target and keep the relabelling rules as they are.
    doc = load_yaml(PROMETHEUS_DIR / "kubernetes.yml")
    for job in doc["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [{"targets": ["127.0.0.1:9101"]}]
    from ruamel.yaml import YAML

    with (tmp_path / "kubernetes.yml").open("w") as out:
        YAML(typ="safe").dump(doc, out)
    (tmp_path / "rules.yml").write_text(RULES.read_text())
    _ok(promtool("check", "config", "kubernetes.yml", cwd=tmp_path))


def test_rules_pass_promtool_check_rules() -> None:
    result = promtool("check", "rules", "rules.yml")
    _ok(result)
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_passes_promtool_test_rules() -> None:
    result = promtool("test", "rules", "rules.test.yml")
    _ok(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_alerts_of_the_issue_exist() -> None:
    assert {rule["alert"] for rule in alerts()} >= REQUIRED_ALERTS


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    doc = load_yaml(PROMETHEUS_DIR / "rules.test.yml")
    fires: set[str] = set()
    silent: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    anchors = doc_anchors(OPERATIONS_DOC.read_text(encoding="utf-8"))
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"].strip(), name
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{runbook_anchor(name)}", name
        assert runbook_anchor(name) in anchors, f"{name}: no '### {name}' in docs/operations.md"


def test_every_runbook_section_is_an_alert() -> None:
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    sections = {line[4:].strip() for line in text.splitlines() if line.startswith("### Census")}
    assert sections == {rule["alert"] for rule in alerts()}


def test_rules_select_only_metrics_the_services_export() -> None:
    known = code_metric_names() | recorded_names() | FOREIGN_METRICS
    unknown = {
        (rule.get("alert") or rule.get("record"), name)
        for rule in rules()
        for name in promql_metric_names(rule["expr"])
        if name not in known
    }
    assert unknown == set()


def test_recording_rules_are_named_level_metric_operations() -> None:
    for rule in rules():
        if "record" in rule:
            level, _, operations = rule["record"].partition(":")[2].rpartition(":")
            assert rule["record"].startswith("census:") and level and operations, rule["record"]


@pytest.mark.parametrize(
    ("job", "port"),
    [
        ("census-ingest", IngestSettings(id_secret=TEST_ID_SECRET).ops_port),
        ("census-aggregator", AggregatorSettings().ops_port),
        ("census-retention", RetentionSettings().ops_port),
        ("census-dashboard", DashboardSettings().ops_port),
    ],
)
def test_scrape_config_targets_each_services_ops_port(job: str, port: int) -> None:
    doc = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    (scrape,) = [s for s in doc["scrape_configs"] if s["job_name"] == job]
    targets = [t for static in scrape["static_configs"] for t in static["targets"]]
    assert [t.rpartition(":")[2] for t in targets] == [str(port)]
    assert doc["rule_files"] == ["rules.yml"]


def test_promql_metric_names_skips_functions_labels_and_keywords() -> None:
    expr = (
        'sum by (le, status) (rate(census_a_total{status=~"5..", x="y"}[5m])) '
        "/ on (product) group_left census:b:rate5m offset 1h > 0.5 "
        "and time() - max(census_c_seconds) > 2 * 3600 unless up == 0"
    )
    assert promql_metric_names(expr) == {
        "census_a_total",
        "census:b:rate5m",
        "census_c_seconds",
        "up",
    }
