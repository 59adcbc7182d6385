"""Every fixed server port of the suite and of the local stack lies outside the ephemeral range."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from services.common.settings import KafkaSettings, PostgresSettings
from tests.support.ports import PRIVATE_STACKS
from tests.support.stack import LOCAL

LINUX_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range() -> tuple[int, int]:
    """This machine's range for clients' local ports (Linux's default where it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL
    return int(low), int(high)


def outside_ephemeral(port: int) -> bool:
    low, high = ephemeral_range()
    wider = (min(low, LINUX_DEFAULT_EPHEMERAL[0]), max(high, LINUX_DEFAULT_EPHEMERAL[1]))
    return 0 < port < wider[0] or port > wider[1]


def local_stack_defaults() -> dict[str, int]:
    text = (LOCAL / "env.sh").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"^(CENSUS_\w+_PORT)=\$\{\1:-(\d+)\}", text, re.M)}


def test_private_stacks_ports_are_distinct() -> None:
    ports = [port for stack in PRIVATE_STACKS for port in stack.all()]
    assert len(ports) == len(set(ports)), ports


def test_private_stacks_listen_outside_the_ephemeral_range() -> None:
    inside = [
        port for stack in PRIVATE_STACKS for port in stack.all() if not outside_ephemeral(port)
    ]
    assert inside == [], f"{inside} can be taken by a client socket; pick ports below 32768"


def test_local_stack_defaults_listen_outside_the_ephemeral_range() -> None:
    defaults = local_stack_defaults()
    assert {
        "CENSUS_KAFKA_PORT",
        "CENSUS_KAFKA_CONTROLLER_PORT",
        "CENSUS_PG_PORT",
    } <= defaults.keys()
    inside = {name: port for name, port in defaults.items() if not outside_ephemeral(port)}
    assert inside == {}


def test_services_default_to_the_local_stacks_ports() -> None:
    defaults = local_stack_defaults()
    pg_url = PostgresSettings.__dataclass_fields__["dsn"].default
    bootstrap = KafkaSettings.__dataclass_fields__["bootstrap"].default
    assert urlsplit(str(pg_url)).port == defaults["CENSUS_PG_PORT"]
    assert str(bootstrap) == f"127.0.0.1:{defaults['CENSUS_KAFKA_PORT']}"
