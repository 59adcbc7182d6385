"""schemas/ping.schema.json is what the Ping Struct generates today (README, DESIGN §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import jsonschema


def test_committed_ping_schema_is_what_the_struct_generates() -> None:
    assert jsonschema.PING_SCHEMA_PATH.exists(), jsonschema.REGENERATE
    committed = jsonschema.PING_SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == jsonschema.render(), jsonschema.REGENERATE


def test_committed_ping_schema_describes_the_ping() -> None:
    schema = json.loads(jsonschema.PING_SCHEMA_PATH.read_text(encoding="utf-8"))
    ping = schema["$defs"]["Ping"]
    assert {"product", "install_id", "event"} <= set(ping["required"])
    assert set(ping["properties"]) >= {"attrs", "counts", "ping_id", "sent_at"}


def test_check_mode_names_the_command_when_stale(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "ping.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(jsonschema, "PING_SCHEMA_PATH", stale)
    assert jsonschema.main(["--check"]) == 1
    assert "python -m schemas.jsonschema" in capsys.readouterr().err
    assert jsonschema.main([]) == 0
    assert stale.read_text() == jsonschema.render()
    assert jsonschema.main(["--check"]) == 0
