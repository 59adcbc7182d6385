"""Other runtimes' OS and architecture names land on the catalogs' Go names."""

from __future__ import annotations

import pytest

from schemas.catalog import DEFAULT_ARCHES, DEFAULT_OSES
from services.ingest.compat.names import ARCH_NAMES, OS_NAMES, arch_name, os_name


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Linux", "linux"), ("Darwin", "darwin"), ("Windows_NT", "windows"), ("win32", "windows")],
)
def test_node_os_names(raw: str, name: str) -> None:
    assert os_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("x64", "amd64"),
        ("ia32", "386"),
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("armv7l", "arm"),
    ],
)
def test_node_and_uname_arch_names(raw: str, name: str) -> None:
    assert arch_name(raw) == name


def test_every_mapped_name_is_a_default_one() -> None:
    assert set(OS_NAMES.values()) <= set(DEFAULT_OSES)
    assert set(ARCH_NAMES.values()) <= set(DEFAULT_ARCHES)


def test_empty_is_absent_and_unlisted_passes_lower_cased() -> None:
    assert os_name("") is None and arch_name("  ") is None and os_name(None) is None
    assert os_name("SunOS") == "sunos" and arch_name("RISCV64") == "riscv64"
