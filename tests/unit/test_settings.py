"""Settings: parsing, defaults, one-line errors and --help rendering."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from services.common.settings import (
    KafkaSettings,
    Network,
    PostgresSettings,
    SettingsError,
    describe,
    help_epilog,
    load,
    setting,
    unknown_variables,
)


@dataclasses.dataclass(frozen=True)
class Example:
    kafka: KafkaSettings = dataclasses.field(default_factory=KafkaSettings)
    workers: int = setting("CENSUS_TEST_WORKERS", 1, "worker processes")
    ratio: float = setting("CENSUS_TEST_RATIO", 0.5, "a ratio")
    debug: bool = setting("CENSUS_TEST_DEBUG", False, "debug mode")
    proxies: tuple[Network, ...] = setting("CENSUS_TEST_PROXIES", (), "trusted proxies")


def test_defaults_without_environment() -> None:
    settings = load(Example, {})
    assert settings.workers == 1 and settings.debug is False and settings.proxies == ()
    assert settings.kafka.topic == "census.pings.v1"


def test_values_are_parsed_by_type() -> None:
    settings = load(
        Example,
        {
            "CENSUS_TEST_WORKERS": "4",
            "CENSUS_TEST_RATIO": "0.25",
            "CENSUS_TEST_DEBUG": "yes",
            "CENSUS_TEST_PROXIES": "10.0.0.0/8, ::1",
            "CENSUS_KAFKA_PARTITIONS": "24",
        },
    )
    assert (settings.workers, settings.ratio, settings.debug) == (4, 0.25, True)
    assert settings.proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))
    assert settings.kafka.partitions == 24


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CENSUS_TEST_WORKERS": "four"}, "CENSUS_TEST_WORKERS='four'"),
        ({"CENSUS_TEST_DEBUG": "maybe"}, "expected true or false"),
        ({"CENSUS_TEST_PROXIES": "10.0.0.0/33"}, "CENSUS_TEST_PROXIES"),
        ({"CENSUS_KAFKA_PARTITIONS": "0"}, "CENSUS_KAFKA_PARTITIONS must be positive"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(Example, env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_dsn_is_rejected() -> None:
    with pytest.raises(SettingsError, match="postgresql://"):
        load(PostgresSettings, {"CENSUS_PG_DSN": "mysql://x"})


def test_help_lists_every_variable_with_default() -> None:
    names = [d.env for d in describe(Example)]
    assert "CENSUS_KAFKA_BOOTSTRAP" in names and "CENSUS_TEST_PROXIES" in names
    assert "CENSUS_TEST_WORKERS" in help_epilog(Example) and "[1]" in help_epilog(Example)


def test_variables_of_the_service_it_does_not_read_are_named() -> None:
    env = {
        "CENSUS_TEST_WORKERS": "2",
        "CENSUS_TEST_LINGER_MS": "5",  # a setting an older release had
        "CENSUS_TEST_WROKERS": "3",  # a typo
        "CENSUS_KAFKA_BOOTSTRAP": "k:9092",  # read, through the kafka section
        "CENSUS_PG_DSN": "postgresql://x/y",  # another prefix: not this check's business
    }
    assert unknown_variables(Example, "CENSUS_TEST_", env) == [
        "CENSUS_TEST_LINGER_MS",
        "CENSUS_TEST_WROKERS",
    ]
    assert unknown_variables(Example, "CENSUS_KAFKA_", env) == []
    others = frozenset({"CENSUS_TEST_LINGER_MS"})
    assert unknown_variables(Example, "CENSUS_TEST_", env, others=others) == ["CENSUS_TEST_WROKERS"]
