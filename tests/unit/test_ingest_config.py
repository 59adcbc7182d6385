"""`census ingest` configuration: defaults, one-line errors, --help lists every variable."""

from __future__ import annotations

import pytest

from services.common.settings import SettingsError, describe, load
from services.ingest import main as ingest_main
from services.ingest.config import IngestSettings
from tests.support.ingest import TEST_ID_SECRET

SECRET = {"CENSUS_INGEST_ID_SECRET": TEST_ID_SECRET}


def test_defaults() -> None:
    settings = load(IngestSettings, SECRET)
    assert (settings.host, settings.port, settings.ops_port) == ("127.0.0.1", 8080, 9101)
    assert settings.trusted_proxies == ()


def test_trusted_proxies_are_networks() -> None:
    settings = load(IngestSettings, {**SECRET, "CENSUS_TRUSTED_PROXIES": "10.0.0.0/8, ::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CENSUS_INGEST_PORT", "http"),
        ("CENSUS_INGEST_PORT", "70000"),
        ("CENSUS_INGEST_MAX_BATCH", "0"),
        ("CENSUS_INGEST_COMPRESSION", "brotli"),
        ("CENSUS_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("CENSUS_INGEST_PUBLISH_TIMEOUT_S", "-1"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(IngestSettings, {**SECRET, name: value})
    assert name in str(caught.value) and "\n" not in str(caught.value)


def test_main_exits_2_on_bad_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CENSUS_INGEST_ID_SECRET", TEST_ID_SECRET)
    monkeypatch.setenv("CENSUS_INGEST_MAX_BATCH", "lots")
    assert ingest_main.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CENSUS_INGEST_MAX_BATCH" in err


def test_help_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        ingest_main.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    names = [doc.env for doc in describe(IngestSettings)]
    assert {"CENSUS_INGEST_PORT", "CENSUS_TRUSTED_PROXIES", "CENSUS_KAFKA_BOOTSTRAP"} <= set(names)
    for name in names:
        assert name in out
    assert "--workers" in out


@pytest.mark.parametrize(
    "secret",
    [None, "", "   ", "census-local-development-only", "short-but-mine"],
    ids=["unset", "empty", "blank", "published-default", "too-short"],
)
def test_ingest_refuses_to_start_without_a_secret_of_its_own(
    secret: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CENSUS_INGEST_ID_SECRET", raising=False)
    monkeypatch.delenv("CENSUS_INGEST_COMPAT", raising=False)
    if secret is not None:
        monkeypatch.setenv("CENSUS_INGEST_ID_SECRET", secret)
    assert ingest_main.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CENSUS_INGEST_ID_SECRET" in err
    if secret and secret.strip():
        assert secret not in err  # the value itself is never echoed


def test_without_compat_no_secret_is_needed() -> None:
    settings = load(IngestSettings, {"CENSUS_INGEST_COMPAT": "false"})
    assert settings.compat is False and settings.id_secret == ""


def test_a_secret_of_its_own_is_taken_as_given() -> None:
    assert load(IngestSettings, SECRET).id_secret == TEST_ID_SECRET
