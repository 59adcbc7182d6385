"""Aggregator settings, --help and the dead-letter decisions (no servers)."""

from __future__ import annotations

import uuid

import pytest

from schemas.catalog import load_catalogs
from schemas.record import encode_record
from services.aggregator.config import AggregatorSettings
from services.aggregator.decode import Unusable, decode
from services.aggregator.main import main
from services.common.settings import SettingsError, load
from tests.support.aggregator import BASE, ping

CATALOGS = load_catalogs()


def test_defaults_and_overrides() -> None:
    settings = load(AggregatorSettings, {"CENSUS_AGGREGATOR_GROUP": "g2"})
    assert settings.ops_port == 9102
    assert settings.group == "g2"
    assert settings.flush_interval_s <= 1.0
    assert settings.flush_lanes == 2
    assert load(AggregatorSettings, {"CENSUS_AGGREGATOR_FLUSH_LANES": "1"}).flush_lanes == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CENSUS_AGGREGATOR_FLUSH_INTERVAL_S", "1.5"),
        ("CENSUS_AGGREGATOR_BATCH_RECORDS", "0"),
        ("CENSUS_AGGREGATOR_OPS_PORT", "70000"),
        ("CENSUS_AGGREGATOR_GROUP", " "),
        ("CENSUS_AGGREGATOR_FLUSH_LANES", "0"),
        ("CENSUS_AGGREGATOR_FLUSH_LANES", "9"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load(AggregatorSettings, {name: value})


def test_help_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("CENSUS_AGGREGATOR_GROUP", "CENSUS_PG_DSN", "CENSUS_KAFKA_DLQ_TOPIC"):
        assert name in out


def test_bad_config_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENSUS_AGGREGATOR_FLUSH_INTERVAL_S", "9")
    assert main([]) == 2


def test_unusable_records_carry_a_reason() -> None:
    good = ping(uuid.uuid4(), BASE)
    assert decode(encode_record(good), CATALOGS) == good
    cases = {
        b"\xc1": "undecodable",
        encode_record(ping(uuid.uuid4(), BASE, product="nope")): "unknown_product",
    }
    for value, reason in cases.items():
        with pytest.raises(Unusable) as info:
            decode(value, CATALOGS)
        assert info.value.reason == reason
    with pytest.raises(Unusable):
        decode(None, CATALOGS)


def test_an_event_this_catalog_does_not_know_is_counted_as_other() -> None:
    # What ingest does with an unknown event; a newer ingest's event name is treated the same.
    for event in ("other", "no-such-event"):
        decoded = decode(encode_record(ping(uuid.uuid4(), BASE, event=event)), CATALOGS)
        assert decoded.event == "other"


def test_only_declared_attrs_and_counts_are_kept() -> None:
    record = ping(
        uuid.uuid4(),
        BASE,
        attrs={"ai_enabled": True, "hostname": "db-01.corp.example"},
        counts={"vms": 3, "ssh_port": 22},
    )
    decoded = decode(encode_record(record), CATALOGS)
    assert decoded.attrs == {"ai_enabled": True}
    assert decoded.counts == {"vms": 3}
    declared = ping(uuid.uuid4(), BASE, attrs={"ai_enabled": False}, counts={"vms": 1})
    assert decode(encode_record(declared), CATALOGS) == declared


def test_names_past_the_length_limit_are_undecodable() -> None:
    record = ping(uuid.uuid4(), BASE, attrs={"x" * 65: True})
    with pytest.raises(Unusable) as info:
        decode(encode_record(record), CATALOGS)
    assert info.value.reason == "undecodable"
