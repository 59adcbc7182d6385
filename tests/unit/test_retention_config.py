"""`census retention` configuration: defaults, help listing every variable, bad values exit 2."""

from __future__ import annotations

import pytest

from services.common.settings import describe, load
from services.retention.config import RetentionSettings
from services.retention.main import main, pass_options


def test_defaults_match_the_documented_horizons() -> None:
    settings = load(RetentionSettings, {})
    options = pass_options(settings)
    assert (options.horizons.install, options.horizons.rollup) == (90, 400)
    assert (settings.ahead_days, settings.interval_s, settings.ops_port) == (7, 3600.0, 9103)
    assert settings.lock_timeout_ms == 2000


def test_help_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for doc in describe(RetentionSettings):
        assert doc.env in out
    assert "--once" in out and "--dry-run" in out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CENSUS_RETENTION_INSTALL_DAYS", "0"),
        ("CENSUS_RETENTION_AHEAD_DAYS", "-1"),
        ("CENSUS_RETENTION_LOCK_TIMEOUT_MS", "soon"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("census retention: ") and name in err
    assert len(err.splitlines()) == 1
