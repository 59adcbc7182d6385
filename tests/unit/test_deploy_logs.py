"""CENSUS_LOG_FORMAT=json (set by deploy/compose.yaml and the Kubernetes ConfigMap) gives one JSON
object per line with service, level and message; the default stays human-readable."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Final

from tests.support.prometheus import ROOT

CENSUS: Final = ROOT / ".venv" / "bin" / "census"
# Nothing listens on port 1: `census migrate` fails at once and logs why.
UNREACHABLE: Final = "postgresql://census@127.0.0.1:1/census"


def migrate_stderr(log_format: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSUS_")}
    env["CENSUS_PG_DSN"] = UNREACHABLE
    env["CENSUS_PG_CONNECT_TIMEOUT_S"] = "2"
    if log_format is not None:
        env["CENSUS_LOG_FORMAT"] = log_format
    result = subprocess.run(
        [str(CENSUS), "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_json_format_is_one_object_per_line_with_service_level_and_message() -> None:
    lines = migrate_stderr("json")
    assert lines
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert entry["service"] == "migrate"
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
        assert isinstance(entry["message"], str)
        assert entry["ts"].endswith("+00:00")
    assert any(e["level"] == "error" and "PostgreSQL" in e["message"] for e in entries)


def test_default_format_is_human_readable_text() -> None:
    lines = migrate_stderr(None)
    assert any("ERROR" in line and "migrate" in line for line in lines)
    for line in lines:
        assert not line.lstrip().startswith("{")
