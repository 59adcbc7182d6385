"""What a benchmarked process used, from /proc: CPU seconds and peak resident memory; and which
local processes are the Kafka broker and the PostgreSQL cluster, to account for theirs too."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed, so
    # index 0 here is field 3 (state), 1 is ppid, 11/12 utime/stime, 13/14 cutime/cstime.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK


def parent_pid(pid: int) -> int:
    return int(_stat(pid)[1])


def child_pids(parent: int) -> list[int]:
    """The live direct children of `parent`."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat(int(entry.name))[1]) == parent:
                children.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
    return children


def cluster_cpu_seconds(root: int) -> float:
    """CPU time of `root` and of all its direct children, live or exited: a PostgreSQL
    postmaster's backends come and go (an exited child's time is added to its parent's
    cutime/cstime), and `census ingest --workers N` runs N children."""
    total = sum(int(f) for f in _stat(root)[11:15]) / _TICK
    for child in child_pids(root):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited since: its time is in the parent's cutime now (or lost in between)
    return total


def listener_pid(port: int) -> int | None:
    """The local process listening on TCP `port` (IPv4 or IPv6), or None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return None


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
