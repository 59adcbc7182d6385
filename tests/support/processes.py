"""Census services as real subprocesses for e2e and fault tests: start, wait ready, kill, restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp

from tests.support.stack import ROOT

CENSUS = ROOT / ".venv" / "bin" / "census"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; we release it for the child)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _poll(
    url: str,
    answered: Callable[[aiohttp.ClientResponse], Awaitable[bool]],
    what: str,
    *,
    within_s: float,
    process: subprocess.Popen[bytes] | None,
) -> None:
    """GET `url` every 0.1 s until `answered(response)`; fail early if `process` died, or at
    the deadline with `what` was not seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if await answered(response):
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"{url}: {what} within {within_s}s")
            await asyncio.sleep(0.1)


async def wait_until_ready(
    url: str, *, within_s: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers 200; fail early if `process` died, or at the deadline."""

    async def ok(response: aiohttp.ClientResponse) -> bool:
        return response.status == 200

    await _poll(url, ok, "not ready", within_s=within_s, process=process)


async def wait_until_metric(
    url: str, line: str, *, within_s: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll the exposition at `url` until it has the sample `line` (e.g. `name 1.0`)."""

    async def has_line(response: aiohttp.ClientResponse) -> bool:
        return line in (await response.text()).splitlines()

    await _poll(url, has_line, f"no {line!r}", within_s=within_s, process=process)


KAFKA_CONNECTED = "census_ingest_kafka_connected 1.0"
"""Ingest is ready as soon as it answers (503 while Kafka is away); tests that need a 202 wait for
this sample too."""
WORKING = {"ingest": KAFKA_CONNECTED}
"""Per command, the metric sample that says it can do its work, beyond /readyz."""


@dataclass
class ServiceProcess:
    """One `census <command>` subprocess; its output goes to `log_path` (appended across restarts)."""

    command: list[str]
    env: dict[str, str]
    ops_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}/readyz"

    async def start(self, *, ready_within_s: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Popen only forks; the waiting happens in wait_until_ready, which yields to the loop.
        self.process = subprocess.Popen(  # noqa: ASYNC220
            [str(CENSUS), *self.command],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            await wait_until_ready(self.ready_url, within_s=ready_within_s, process=self.process)
            working = WORKING.get(self.command[0])
            if working is not None:
                await wait_until_metric(
                    f"http://127.0.0.1:{self.ops_port}/metrics",
                    working,
                    within_s=ready_within_s,
                    process=self.process,
                )
        except BaseException:
            # Never leave a process behind that the caller has no handle to stop.
            self.kill()
            raise

    async def stop(self, *, within_s: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process is None:
            return 0
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self._wait, process, within_s)
        self._close_log()
        if code == -9:
            tail = self.log_path.read_text(errors="replace").splitlines()[-80:]
            print(f"last lines of {self.log_path}:", *tail, sep="\n", file=sys.stderr)
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
        self._close_log()

    async def restart(self, *, ready_within_s: float = 60.0) -> None:
        await self.stop()
        await self.start(ready_within_s=ready_within_s)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _wait(process: subprocess.Popen[bytes], within_s: float) -> int:
        try:
            return process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            # Services dump their stacks on SIGUSR1 (services.common.lifecycle): into the log.
            process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)
            process.kill()
            process.wait(timeout=10)
            print(f"{process.args!r}: did not stop on SIGTERM within {within_s}s", file=sys.stderr)
            return -9
