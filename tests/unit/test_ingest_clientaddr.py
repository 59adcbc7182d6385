"""Which address a request is limited by: X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import ipaddress

from services.ingest.clientaddr import bucket_key, client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert str(client_address("198.51.100.4", ["192.0.2.1"], PROXIES)) == "198.51.100.4"
    assert str(client_address("198.51.100.4", ["192.0.2.1"], ())) == "198.51.100.4"


def test_right_most_untrusted_hop_behind_trusted_proxies() -> None:
    got = client_address("10.0.0.2", ["6.6.6.6, 192.0.2.1, 10.1.1.1"], PROXIES)
    assert str(got) == "192.0.2.1"
    # several headers count as one list, in order
    got = client_address("10.0.0.2", ["6.6.6.6", "192.0.2.9"], PROXIES)
    assert str(got) == "192.0.2.9"


def test_all_hops_trusted_or_garbage_falls_back_to_a_proxy() -> None:
    assert str(client_address("10.0.0.2", ["10.0.0.9"], PROXIES)) == "10.0.0.9"
    assert str(client_address("10.0.0.2", ["not-an-ip"], PROXIES)) == "10.0.0.2"
    assert str(client_address("10.0.0.2", [], PROXIES)) == "10.0.0.2"


def test_ports_brackets_and_mapped_addresses() -> None:
    assert str(client_address("::1", ["[2001:db8::5]:443"], PROXIES)) == "2001:db8::5"
    assert str(client_address("10.0.0.2", ["192.0.2.1:5555"], PROXIES)) == "192.0.2.1"
    assert str(client_address("::ffff:10.0.0.2", ["192.0.2.1"], PROXIES)) == "192.0.2.1"
    assert client_address(None, ["192.0.2.1"], PROXIES) is None


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    a = client_address("2001:db8:1:2::1", [], ())
    b = client_address("2001:db8:1:2:ffff::9", [], ())
    assert bucket_key(a) == bucket_key(b) == "2001:db8:1:2::/64"
    assert bucket_key(client_address("192.0.2.1", [], ())) == "192.0.2.1"
    assert bucket_key(None) == "unknown"
