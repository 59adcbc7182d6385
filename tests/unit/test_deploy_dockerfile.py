"""The Dockerfile, read statically (no Docker engine here): slim Python base, a non-root user,
`census` as the entrypoint, and COPY sources that exist and are not excluded by .dockerignore."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from typing import Final

import pytest

from services.aggregator.config import AggregatorSettings
from services.dashboard.config import DashboardSettings
from services.ingest.config import IngestSettings
from services.retention.config import RetentionSettings
from tests.support.ingest import TEST_ID_SECRET
from tests.support.prometheus import ROOT

DOCKERFILE: Final = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "a continuation line ends the file"
    out = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def dockerignore_admits(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context (last matching rule wins)."""
    admitted = True
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path.rstrip("/"), pattern):
            admitted = negate
    return admitted


def test_every_stage_is_python_311_slim() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert bases, "no FROM"
    assert all(base == "python:3.11-slim" for base in bases), bases


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage never sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric uid lets Kubernetes' runAsNonRoot check it"


def test_entrypoint_is_census_and_the_command_picks_the_service() -> None:
    (entrypoint,) = [args for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["census"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["census"] == "services.cli:main"


def test_containers_listen_on_every_interface() -> None:
    env = env_of(final_stage())
    assert env["CENSUS_INGEST_HOST"] == "0.0.0.0"
    assert env["CENSUS_DASHBOARD_HOST"] == "0.0.0.0"
    assert env["CENSUS_OPS_HOST"] == "0.0.0.0"


def test_exposes_the_public_and_ops_ports() -> None:
    exposed = {
        int(port) for keyword, args in final_stage() if keyword == "EXPOSE" for port in args.split()
    }
    assert exposed == {
        IngestSettings(id_secret=TEST_ID_SECRET).port,
        IngestSettings(id_secret=TEST_ID_SECRET).ops_port,
        AggregatorSettings().ops_port,
        RetentionSettings().ops_port,
        DashboardSettings().port,
        DashboardSettings().ops_port,
    }


def test_the_package_ships_the_dashboards_static_files() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    assert package_data["services.dashboard"] == ["static/*"]
    assert (ROOT / "services" / "dashboard" / "static" / "census.css").exists()


def _copy_sources() -> list[str]:
    sources: list[str] = []
    for keyword, args in instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


@pytest.mark.parametrize("source", _copy_sources())
def test_copy_source_exists_and_is_in_the_build_context(source: str) -> None:
    assert (ROOT / source).exists(), source
    assert dockerignore_admits(source), f"{source} is excluded by .dockerignore"


def test_the_image_holds_what_the_package_needs() -> None:
    # setuptools needs the readme named in pyproject and every package it finds.
    sources = {s.rstrip("/") for s in _copy_sources()}
    assert {"pyproject.toml", "README.md", "schemas", "services"} <= sources
    assert not dockerignore_admits(".venv")
    assert not dockerignore_admits(".local")
