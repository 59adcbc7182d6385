"""Ingest's CPU per batch request and its RSS under a header flood, for several GC settings.

Not a test. The figures behind services/common/lifecycle.py's GC choice. Each setting runs
`census ingest` as a subprocess (thresholds set through a small wrapper, the service's periodic
full collection as it ships), loads it with 1,000-ping batches and single pings, then floods it
with connections sending 129 headers of 8 kB each and samples its RSS from /proc. Needs a Kafka
(CENSUS_BENCH_KAFKA_BOOTSTRAP, default the shared test broker 127.0.0.1:29092); writes
bench/results/ingest_gc.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc import cpu_seconds  # noqa: E402
from tests.support.ingest import encode, free_port, pulse_ping  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest_gc.json"
BOOTSTRAP = os.environ.get("CENSUS_BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
SETTINGS = os.environ.get("CENSUS_BENCH_GC", "700,10,10 10000,10,10 100000,50,100").split()
ROUNDS = int(os.environ.get("CENSUS_BENCH_ROUNDS", "2"))
FLOOD_S = float(os.environ.get("CENSUS_BENCH_FLOOD_S", "15"))
FLOOD_CONNECTIONS = int(os.environ.get("CENSUS_BENCH_FLOOD_CONNECTIONS", "64"))
PYTHON = str(ROOT / ".venv" / "bin" / "python")

# The service sets its own thresholds in run_service; the wrapper makes that call set these.
WRAPPER = """
import gc, sys
thresholds = tuple(int(x) for x in sys.argv[1].split(","))
set_threshold = gc.set_threshold
gc.set_threshold = lambda *_: set_threshold(*thresholds)
from services.ingest.main import main
sys.exit(main([]))
"""
FLOOD_HEAD = (
    b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    + b"".join(b"X-Flood-%d: %s\r\n" % (i, b"a" * 8000) for i in range(129))
    + b"Content-Length: 2\r\n\r\n{}"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(thresholds: str) -> tuple[subprocess.Popen[bytes], int]:
    port, ops = free_port(), free_port()
    env = {
        **os.environ,
        "CENSUS_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CENSUS_KAFKA_TOPIC": f"census.bench.gc.{uuid.uuid4().hex[:8]}",
        "CENSUS_KAFKA_PARTITIONS": "3",
        "CENSUS_INGEST_PORT": str(port),
        "CENSUS_INGEST_OPS_PORT": str(ops),
        "CENSUS_INGEST_RATE_PER_S": "0",
    }
    process = subprocess.Popen(
        [PYTHON, "-c", WRAPPER, thresholds],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ops}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return process, port
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit(f"ingest with GC {thresholds} did not become ready")
        time.sleep(0.2)


async def load(port: int, seconds: float, path: bytes, body: bytes, connections: int = 16) -> int:
    """Requests answered on keep-alive connections within `seconds`."""
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path
    request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    end = time.monotonic() + seconds
    answered = 0

    async def one() -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < end:
            writer.write(request)
            await writer.drain()
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            answered += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return answered


async def flood(port: int, pid: int) -> tuple[float, dict[str, int]]:
    """Peak RSS (MB) while FLOOD_CONNECTIONS connections send oversized heads, and the answers."""
    end = time.monotonic() + FLOOD_S
    answers: dict[str, int] = {}
    peak = 0.0

    async def one() -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(FLOOD_HEAD)
                await writer.drain()
                status = (await asyncio.wait_for(reader.readline(), 10))[9:12].decode()
                writer.close()
            except (OSError, TimeoutError) as exc:
                status = type(exc).__name__
            answers[status] = answers.get(status, 0) + 1

    async def sample() -> None:
        nonlocal peak
        while time.monotonic() < end:
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.1)

    await asyncio.gather(sample(), *(one() for _ in range(FLOOD_CONNECTIONS)))
    return peak, answers


def measure(thresholds: str) -> dict[str, Any]:
    process, port = start(thresholds)
    try:
        batch = encode([pulse_ping() for _ in range(1000)])
        single = encode(pulse_ping())
        idle = rss_mb(process.pid)
        before = cpu_seconds(process.pid)
        batches = asyncio.run(load(port, 6, b"/v1/batch", batch))
        batch_cpu = cpu_seconds(process.pid) - before
        before = cpu_seconds(process.pid)
        singles = asyncio.run(load(port, 4, b"/v1/ping", single))
        single_cpu = cpu_seconds(process.pid) - before
        peak, answers = asyncio.run(flood(port, process.pid))
        return {
            "idle_rss_mb": round(idle),
            "cpu_ms_per_batch": round(1000 * batch_cpu / max(batches, 1), 2),
            "cpu_us_per_ping_request": round(1e6 * single_cpu / max(singles, 1), 1),
            "flood_peak_rss_mb": round(peak),
            "flood_answers": answers,
        }
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    runs: dict[str, list[dict[str, Any]]] = {setting: [] for setting in SETTINGS}
    for _ in range(ROUNDS):
        for setting in SETTINGS:  # interleaved: the machine's load drifts between rounds
            runs[setting].append(measure(setting))
    figures: dict[str, Any] = {"flood_s": FLOOD_S, "flood_connections": FLOOD_CONNECTIONS}
    for setting, results in runs.items():
        key = setting.replace(",", "_")
        figures[f"gc_{key}_cpu_ms_per_batch"] = [r["cpu_ms_per_batch"] for r in results]
        figures[f"gc_{key}_flood_peak_rss_mb"] = [r["flood_peak_rss_mb"] for r in results]
        figures[f"gc_{key}_runs"] = results
    for name, value in figures.items():
        print(f"{name}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
