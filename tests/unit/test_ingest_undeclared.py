"""Learning which undeclared field names clients send: names only, shown only past k installs,
bounded, and never an install id held."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry

from services.ingest.app import GATEWAY
from services.ingest.undeclared import UndeclaredNames
from tests.support.ingest import FakePublisher, encode, ingest_client, pulse_ping

JSON = {"Content-Type": "application/json"}


def installs(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i + 1) for i in range(n)]


def test_a_name_is_shown_only_once_k_distinct_installs_sent_it() -> None:
    names = UndeclaredNames(b"k" * 32, min_installs=3)
    first, second, third = installs(3)
    names.add([("pulse", first, "attrs.new_flag")] * 5)  # one install, many times
    names.add([("pulse", second, "attrs.new_flag")])
    assert names.report() == {}
    names.add([("pulse", third, "attrs.new_flag"), ("novu", third, "attrs.new_flag")])
    assert names.report() == {"pulse": ["attrs.new_flag"]}


def test_names_that_are_not_field_names_are_never_followed() -> None:
    names = UndeclaredNames(b"k" * 32, min_installs=1)
    odd = ["attrs.db01.example.com", "attrs.Bad Key", "attrs.x@y", "10.0.0.7", "attrs." + "a" * 60]
    names.add([("pulse", uuid.UUID(int=1), name) for name in odd])
    assert names.report() == {}


def test_memory_is_bounded_in_names_and_in_installs_per_name() -> None:
    names = UndeclaredNames(b"k" * 32, min_installs=2, max_names=10)
    names.add(("pulse", install, f"attrs.made_up_{i}") for i, install in enumerate(installs(1000)))
    assert len(names._seen) == 10
    names.add(("pulse", install, "attrs.made_up_0") for install in installs(1000))
    assert max(len(tags) for tags in names._seen.values()) == 2
    held = b"".join(tag for tags in names._seen.values() for tag in tags)
    assert all(install.bytes not in held for install in installs(1000))


async def test_ingest_learns_from_accepted_pings() -> None:
    publisher = FakePublisher()
    async with ingest_client(publisher=publisher, registry=CollectorRegistry()) as client:
        for _ in range(5):
            ping = pulse_ping()
            ping["attrs"]["future_feature"] = True
            response = await client.post("/v1/ping", data=encode(ping), headers=JSON)
            assert response.status == 202
        assert client.app is not None
        assert client.app[GATEWAY].undeclared.report() == {"pulse": ["attrs.future_feature"]}
