"""Other runtimes' names for an OS or a CPU architecture, mapped onto the catalogs' Go names.

Node's os.type()/os.platform()/os.arch() and `uname -m` spell them differently from Go's
GOOS/GOARCH, which DEFAULT_OSES and DEFAULT_ARCHES use; one install counts under one name.
"""

from __future__ import annotations

from typing import Final

OS_NAMES: Final = {
    "linux": "linux",
    "darwin": "darwin",
    "windows_nt": "windows",  # Node os.type()
    "win32": "windows",  # Node os.platform()
    "windows": "windows",
    "freebsd": "freebsd",
}

ARCH_NAMES: Final = {
    "x64": "amd64",  # Node os.arch()
    "x86_64": "amd64",  # uname -m
    "amd64": "amd64",
    "arm64": "arm64",
    "aarch64": "arm64",  # uname -m
    "arm": "arm",
    "armv7l": "arm",  # uname -m
    "armv6l": "arm",
    "armhf": "arm",  # dpkg --print-architecture
    "ia32": "386",  # Node os.arch()
    "i386": "386",
    "i686": "386",
    "386": "386",
}


def os_name(raw: str | None) -> str | None:
    """The Go name of an OS; an unlisted name passes lower-cased (the catalog counts it as other)."""
    if raw is None or not raw.strip():
        return None
    key = raw.strip().lower()
    return OS_NAMES.get(key, key)


def arch_name(raw: str | None) -> str | None:
    """The Go name of an architecture; an unlisted name passes lower-cased."""
    if raw is None or not raw.strip():
        return None
    key = raw.strip().lower()
    return ARCH_NAMES.get(key, key)
