"""deploy/compose.yaml and deploy/k8s validate against their schemas (shipped inside the
validator packages, no download) and wire the services the way they really run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from services.aggregator.config import AggregatorSettings
from services.common.settings import describe
from services.dashboard.config import DashboardSettings
from services.ingest.config import IngestSettings
from services.migrate.main import MigrateSettings
from services.retention.config import RetentionSettings
from tests.support.ingest import TEST_ID_SECRET
from tests.support.prometheus import DEPLOY, ROOT, load_yaml, load_yaml_documents

K8S: Final = DEPLOY / "k8s"
COMPOSE: Final = DEPLOY / "compose.yaml"
# The oldest Kubernetes minor still widely run; every manifest must be valid there.
K8S_VERSION: Final = "1.30.0"
MANIFESTS: Final = sorted(K8S.rglob("*.yaml"))
SETTINGS: Final = (
    IngestSettings,
    AggregatorSettings,
    RetentionSettings,
    MigrateSettings,
    DashboardSettings,
)
KNOWN_VARIABLES: Final = {doc.env for cls in SETTINGS for doc in describe(cls)}
OPS_PORTS: Final = {
    "ingest": IngestSettings(id_secret=TEST_ID_SECRET).ops_port,
    "aggregate": AggregatorSettings().ops_port,
    "retention": RetentionSettings().ops_port,
    "dashboard": DashboardSettings().ops_port,
}


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in MANIFESTS for doc in load_yaml_documents(path)]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in _documents() if doc["kind"] == kind}


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def _workloads() -> list[dict[str, Any]]:
    kinds = {"Deployment", "Job", "CronJob"}
    return [doc for _, doc in _documents() if doc["kind"] in kinds]


def _env_names(value: Any) -> set[str]:
    """Every CENSUS_* variable a manifest or compose file sets, wherever it sits."""
    names: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and value["name"].startswith("CENSUS_"):
            names.add(value["name"])
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("CENSUS_"):
                names.add(key)
            names |= _env_names(item)
    elif isinstance(value, list):
        for item in value:
            names |= _env_names(item)
    return names


# --- compose ----------------------------------------------------------------------------------


def test_compose_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


def test_compose_runs_kafka_postgres_migrate_the_services_and_prometheus() -> None:
    services = load_yaml(COMPOSE)["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    commands = {name: svc.get("command") for name, svc in services.items()}
    assert commands["migrate"] == ["migrate"]
    assert commands["ingest"] == ["ingest"]
    assert commands["aggregator"] == ["aggregate"]
    assert commands["retention"] == ["retention"]
    for name in ("aggregator", "retention"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    for name in ("migrate", "ingest", "aggregator", "retention"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file(), name


def test_compose_healthchecks_and_prometheus_targets_use_the_real_ops_ports() -> None:
    doc = load_yaml(COMPOSE)
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {
        t for job in scrape["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    for service, command in [
        ("ingest", "ingest"),
        ("aggregator", "aggregate"),
        ("retention", "retention"),
    ]:
        port = OPS_PORTS[command]
        assert f"{port}/readyz" in " ".join(doc["services"][service]["healthcheck"]["test"])
        assert f"{service}:{port}" in targets
    mounts = doc["services"]["prometheus"]["volumes"]
    assert "./prometheus:/etc/prometheus:ro" in mounts


# --- Kubernetes -------------------------------------------------------------------------------


def test_there_are_manifests() -> None:
    kinds = {doc["kind"] for _, doc in _documents()}
    assert kinds >= {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "Job",
    }


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    documents = load_yaml_documents(path)
    assert documents, path
    for doc in documents:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    (_, doc) = next((p, d) for p, d in _documents() if d["kind"] == "Deployment")
    broken = {**doc, "spec": {**doc["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_workload_runs_the_census_image_as_non_root_with_resources() -> None:
    for doc in _workloads():
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            assert container["image"].startswith("census:"), doc["metadata"]["name"]
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert {"configMapRef": {"name": "census-config"}} in container["envFrom"]


def test_every_census_variable_in_the_manifests_is_a_real_setting() -> None:
    used = _env_names([doc for _, doc in _documents()]) | _env_names(load_yaml(COMPOSE))
    assert used, "no CENSUS_* variables found"
    assert used - KNOWN_VARIABLES == set()


def test_configmap_binds_every_interface() -> None:
    data = _by_kind("ConfigMap")["census-config"]["data"]
    assert data["CENSUS_INGEST_HOST"] == "0.0.0.0"
    assert data["CENSUS_OPS_HOST"] == "0.0.0.0"
    assert data["CENSUS_LOG_FORMAT"] == "json"


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("census-ingest", "ingest"),
        ("census-aggregator", "aggregate"),
        ("census-retention", "retention"),  # alternatives/retention-deployment.yaml
        ("census-dashboard", "dashboard"),
    ],
)
def test_deployment_probes_and_scrape_annotations_use_the_ops_port(name: str, command: str) -> None:
    deployment = _by_kind("Deployment")[name]
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["args"] == [command]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["ops"] == OPS_PORTS[command]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(OPS_PORTS[command])
    assert annotations["prometheus.io/path"] == "/metrics"
    # kubernetes.yml names the job after this label; rules.yml selects job=~"census-.*".
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == name
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()


def test_ingest_has_an_hpa_a_pdb_and_a_service() -> None:
    ingest = _by_kind("Deployment")["census-ingest"]
    labels = ingest["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in ingest["spec"], "the HPA owns the replica count"
    hpa = _by_kind("HorizontalPodAutoscaler")["census-ingest"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "census-ingest",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = _by_kind("PodDisruptionBudget")["census-ingest"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = _by_kind("Service")["census-ingest"]
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = ingest["spec"]["template"]["spec"]["containers"]
    container_ports = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CENSUS_INGEST_WORKERS"] == "1"


def test_aggregator_service_selects_its_pods() -> None:
    labels = _by_kind("Deployment")["census-aggregator"]["spec"]["template"]["metadata"]["labels"]
    service = _by_kind("Service")["census-aggregator"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_retention_cronjob_runs_one_pass_and_never_overlaps() -> None:
    cron = _by_kind("CronJob")["census-retention"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = _pod_spec(cron)["containers"]
    assert container["args"] == ["retention", "--once"]
    # rules.yml watches the CronJob through kube-state-metrics by this name.
    assert 'cronjob="census-retention"' in (DEPLOY / "prometheus" / "rules.yml").read_text()


def test_migrate_job_runs_census_migrate() -> None:
    job = _by_kind("Job")["census-migrate"]
    (container,) = _pod_spec(job)["containers"]
    assert container["args"] == ["migrate"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "census-postgres"


def test_k8s_readme_lists_every_manifest() -> None:
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    for path in MANIFESTS:
        relative = str(path.relative_to(K8S))
        stem = relative.split("-")[0] + "-"
        assert relative in readme or f"`{stem}*.yaml`" in readme, relative
    assert (ROOT / "docs" / "operations.md").is_file()


# --- the install-id secret --------------------------------------------------------------------


def test_compose_gives_ingest_its_id_secret_from_a_secret_file_only() -> None:
    doc = load_yaml(COMPOSE)
    ingest = doc["services"]["ingest"]
    assert ingest["secrets"] == ["census_ingest_id_secret"]
    assert doc["secrets"]["census_ingest_id_secret"] == {"file": "./secrets/ingest-id-secret"}
    # The entrypoint reads the mounted file into the variable and execs `census <command>`.
    shell, flag, script, name = ingest["entrypoint"]
    assert (shell, flag, name) == ("/bin/sh", "-c", "census")
    assert "/run/secrets/census_ingest_id_secret" in script and 'exec census "$$@"' in script
    assert ingest["command"] == ["ingest"]
    # No value anywhere in the file: not in the shared environment, not in any service's.
    for service in doc["services"].values():
        assert "CENSUS_INGEST_ID_SECRET" not in (service.get("environment") or {})
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_kubernetes_ingest_takes_its_id_secret_from_a_required_secret() -> None:
    pod = _by_kind("Deployment")["census-ingest"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (entry,) = [e for e in container["env"] if e["name"] == "CENSUS_INGEST_ID_SECRET"]
    assert "value" not in entry
    ref = entry["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("census-ingest", "id-secret")
    assert ref.get("optional", False) is False  # no Secret, no pod: fail closed
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    assert "create secret generic census-ingest" in readme and "openssl rand" in readme
    for _, doc in _documents():
        assert "CENSUS_INGEST_ID_SECRET" not in (doc.get("data") or {})  # never in a ConfigMap


def test_dashboard_reads_as_the_analyst_and_has_a_service_for_its_pages() -> None:
    deployment = _by_kind("Deployment")["census-dashboard"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CENSUS_DASHBOARD_PG_DSN"]["valueFrom"]["secretKeyRef"]["key"] == "analyst-dsn"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == DashboardSettings().port
    service = _by_kind("Service")["census-dashboard"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "census-dashboard"}
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http", "ops"}


def test_compose_runs_the_dashboard_as_the_analyst() -> None:
    services = load_yaml(COMPOSE)["services"]
    dashboard = services["dashboard"]
    assert dashboard["command"] == ["dashboard"]
    assert "census_analyst" in dashboard["environment"]["CENSUS_DASHBOARD_PG_DSN"]
    assert "8081:8081" in dashboard["ports"]
