"""The install and ping ids the compat adapters publish: made in C, the same UUIDs as uuid's."""

from __future__ import annotations

import hmac
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import load_catalogs
from services.ingest.compat.common import CompatContext, install_uuid, keyed_uuid

CONTEXT = CompatContext(load_catalogs(), b"compat-ids-test-secret")


def _keyed_by_uuid_module(key: bytes, *parts: str) -> uuid.UUID:
    digest = bytearray(hmac.digest(key, "\x1f".join(parts).encode(), "sha256")[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))


@settings(max_examples=300)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_a_keyed_id_is_the_uuid_module_s(parts: list[str]) -> None:
    made = keyed_uuid(CONTEXT.id_key, *parts)
    assert type(made) is uuid.UUID
    assert made == _keyed_by_uuid_module(CONTEXT.id_key, *parts)
    assert made.version == 8


@settings(max_examples=200)
@given(st.binary(max_size=160), st.text(max_size=40))
def test_a_keyed_id_is_hmac_s_under_any_key(key: bytes, part: str) -> None:
    """keyed_uuid runs HMAC from two SHA-256 states of its own: the same as `hmac` under keys
    shorter than, as long as and longer than SHA-256's block (which HMAC hashes first)."""
    assert keyed_uuid(key, "product", part) == _keyed_by_uuid_module(key, "product", part)


def _as_uuid_module_reads(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return keyed_uuid(CONTEXT.id_key, "pulse", "install", raw)


SPELLINGS = [
    "3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5b",
    "3F0C9A2E-5B7D-4E61-8A9F-0C1D2E3F4A5B",
    "3f0c9a2e5b7d4e618a9f0c1d2e3f4a5b",
    "{3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5b}",
    "urn:uuid:3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5b",
    " 3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5b",
    "3f0c9a2e5b7d-4e61-8a9f-0c1d2e3f4a5b",
    "3f0c9a2e-5b7d-4e61-8a9f-0c1d2e3f4a5",
    "pulse-install-7",
]


@pytest.mark.parametrize("raw", SPELLINGS)
def test_a_client_uuid_is_read_as_the_uuid_module_reads_it(raw: str) -> None:
    made = install_uuid(CONTEXT, "pulse", raw, keep_uuid=True)
    assert type(made) is uuid.UUID
    assert made == _as_uuid_module_reads(raw)


@settings(max_examples=300)
@given(
    st.one_of(st.uuids().map(str), st.text(alphabet="0123456789abcdefABCDEF-{}:urn", max_size=45))
)
def test_any_string_is_read_as_the_uuid_module_reads_it(raw: str) -> None:
    assert install_uuid(CONTEXT, "pulse", raw, keep_uuid=True) == _as_uuid_module_reads(raw)
