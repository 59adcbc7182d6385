"""Helpers for the deploy tests: promtool, a real Prometheus server, and metric names.

Metric names come from three places that must agree: the services' code (their metrics classes on
a fresh registry), a live `/metrics` page, and the PromQL in deploy/prometheus and deploy/grafana.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Final

import aiohttp
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"
PROMETHEUS_DIR: Final = DEPLOY / "prometheus"
RULES: Final = PROMETHEUS_DIR / "rules.yml"
OPERATIONS_DOC: Final = ROOT / "docs" / "operations.md"
# Debian's `prometheus` package; .ci/run installs it. Missing binaries fail the tests, never skip.
PROMTOOL: Final = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS: Final = shutil.which("prometheus") or "/usr/bin/prometheus"

# Series the rules may use that no Census service exports: Prometheus' own and kube-state-metrics'.
FOREIGN_METRICS: Final = frozenset({"up", "kube_cronjob_status_last_successful_time"})


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if doc]


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


# --- metric names -----------------------------------------------------------------------------


def series_names(families: Iterable[Metric]) -> set[str]:
    """The series names a scrape of these families can hold (counters gain _total, ...)."""
    names: set[str] = set()
    for family in families:
        name = family.name
        names.add(name)
        if family.type == "counter":
            names.update({f"{name}_total", f"{name}_created"})
        elif family.type in {"histogram", "summary"}:
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"})
        names.update(sample.name for sample in family.samples)
    return names


def code_metric_names() -> set[str]:
    """Every series name the services' metrics classes register."""
    # Imported here: unit tests of other modules should not pay for (or break on) these imports.
    from services.aggregator.metrics import AggregatorMetrics
    from services.dashboard.metrics import DashboardMetrics
    from services.ingest.metrics import IngestMetrics
    from services.retention.metrics import RetentionMetrics

    registry = CollectorRegistry()
    IngestMetrics(registry)
    AggregatorMetrics.create(registry)
    RetentionMetrics(registry)
    DashboardMetrics(registry)
    return series_names(registry.collect())


def exposition_metric_names(text: str) -> set[str]:
    """Series names a `/metrics` page declares, including labelled ones without samples yet."""
    return series_names(text_string_to_metric_families(text))


_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS: Final = re.compile(r"\{[^}]*\}")
_RANGE: Final = re.compile(r"\[[^\]]*\]")
_LABEL_LIST: Final = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_DURATION: Final = re.compile(r"\b\d+(?:\.\d+)?(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*\b")
_IDENT: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "atan2"}
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, labels, keywords or durations)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _DURATION.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def rules() -> list[dict[str, Any]]:
    """Every recording rule and alert of deploy/prometheus/rules.yml."""
    doc = load_yaml(RULES)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def grafana_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every target of every panel, rows included."""
    out: list[tuple[str, str]] = []
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        out.extend((panel.get("title", ""), target["expr"]) for target in panel.get("targets", []))
    return out


def runbook_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation out, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def doc_anchors(markdown: str) -> set[str]:
    return {
        runbook_anchor(line.lstrip("#"))
        for line in markdown.splitlines()
        if re.match(r"^#{1,6} ", line)
    }


# --- a real Prometheus ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


class PrometheusServer:
    """A Prometheus process on loopback with its own config and storage; `async with`."""

    def __init__(self, config: Path, storage: Path, port: int, log: Path) -> None:
        self.config = config
        self.storage = storage
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusServer:
        with self.log.open("wb") as out:
            self._process = await asyncio.create_subprocess_exec(
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            await self._wait_ready(within_s=30)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._process is not None:
            process, self._process = self._process, None
            await stop_process(process)

    async def _wait_ready(self, within_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            assert self._process is not None
            if self._process.returncode is not None:
                raise PrometheusError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self._http.get(f"{self.url}/-/ready") as response:
                    if response.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise PrometheusError(f"prometheus not ready: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.2)

    @property
    def _http(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    async def _api(self, path: str, **params: str) -> Any:
        async with self._http.get(f"{self.url}/api/v1/{path}", params=params) as response:
            body = await response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr` now."""
        data = await self._api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def rule_groups(self) -> list[dict[str, Any]]:
        data = await self._api("rules")
        groups: list[dict[str, Any]] = data["groups"]
        return groups

    async def targets(self) -> list[dict[str, Any]]:
        data = await self._api("targets", state="active")
        active: list[dict[str, Any]] = data["activeTargets"]
        return active


async def stop_process(process: asyncio.subprocess.Process, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`; idempotent."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def running(
    argv: list[str], env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A subprocess with stdout and stderr to `log`, stopped on exit."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        await stop_process(process)
