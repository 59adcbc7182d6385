"""Instructions per request of `census ingest`, counted by callgrind: an A/B measure that does
not drift with the machine.

Not a test and not a bar. bench/ingest.py's requests/s move by 2x within a minute on a shared
machine; the instructions a request costs much less (two runs back to back agree within about
5 %; with the other core busy, per-batch and timer costs are shared by fewer requests and the
figure rises by ~10 %), so a change to the request path is judged here first, then confirmed by
the bench. Kernel time (the sockets) is not counted and the server runs ~50x slower under
valgrind: compare two versions run back to back, never a figure with a timing.

    .venv/bin/python bench/icount.py single pulse ...   (targets: single, batch, a compat product)
    CENSUS_ICOUNT_CWD=/path/to/another/checkout ...      (that checkout's code, this venv)

Needs valgrind and wrk (Debian packages) and a Kafka (CENSUS_BENCH_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.compatbodies import cases  # noqa: E402
from bench.ingest import ingest_env, lua_script, run_wrk, stop, wait_http  # noqa: E402
from services.ingest.compat.registry import PATHS as COMPAT_PATHS  # noqa: E402
from tests.support.ingest import encode, free_port, pulse_ping  # noqa: E402
from tests.support.processes import KAFKA_CONNECTED  # noqa: E402

CONNECTIONS = 16
SECONDS = 8


def target_bodies(target: str) -> tuple[str, list[bytes]]:
    if target == "single":
        return "/v1/ping", [encode(pulse_ping()) for _ in range(200)]
    if target == "batch":
        return "/v1/batch", [encode([pulse_ping() for _ in range(100)]) for _ in range(20)]
    for case in cases(COMPAT_PATHS, 200)[0]:
        if case.product == target:
            return case.route, case.bodies
    raise SystemExit(f"bench/icount.py: no target {target!r} (single, batch or a compat product)")


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=False)


def counted(pid: int, prefix: str, url: str, script: str) -> tuple[int, int]:
    """(requests answered, instructions executed) over one wrk run."""
    control(pid, "-z")
    control(pid, "-i", "on")
    with open(f"{prefix}.lua", "w") as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", f"{prefix}.lua", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    before = set(glob.glob(f"{prefix}.out.*"))
    control(pid, "-d")
    control(pid, "-i", "off")
    requests = re.search(r"(\d+) requests in", out)
    if requests is None or "Non-2xx" in out:
        raise SystemExit(f"bench/icount.py: wrk did not get only 2xx answers:\n{out}")
    deadline = time.monotonic() + 60
    while not (dumps := set(glob.glob(f"{prefix}.out.*")) - before):
        if time.monotonic() > deadline:
            raise SystemExit("bench/icount.py: callgrind wrote no dump")
        time.sleep(0.2)
    text = Path(max(dumps, key=os.path.getmtime)).read_text()
    total = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.M)
    if total is None:
        raise SystemExit("bench/icount.py: no totals in the callgrind dump")
    return int(requests.group(1)), int(total.group(1))


def main() -> int:
    targets = sys.argv[1:] or ["single"]
    port, ops_port = free_port(), free_port()
    prefix = f"/tmp/census-icount-{uuid.uuid4().hex[:8]}"
    env = {
        **ingest_env(f"census.icount.{uuid.uuid4().hex[:8]}", port, ops_port),
        # valgrind slows everything ~50x: deadlines sized for it, or requests would get 503.
        "CENSUS_INGEST_KAFKA_REQUEST_TIMEOUT_S": "60",
        "CENSUS_INGEST_PUBLISH_TIMEOUT_S": "20",
    }
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={prefix}.out.%p",
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "services.cli",
            "ingest",
        ],
        env=env,
        cwd=os.environ.get("CENSUS_ICOUNT_CWD", str(ROOT)),
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"http://127.0.0.1:{ops_port}/metrics", within_s=300, line=KAFKA_CONNECTED)
        for number, target in enumerate(targets, 1):
            path, bodies = target_bodies(target)
            script = lua_script(bodies, path)
            run_wrk(url, script, 3)  # warm-up, not counted
            requests, instructions = counted(server.pid, prefix, url, script)
            print(
                f"{target}: {instructions / requests / 1000:.1f} k instructions per request "
                f"({requests} requests) [{number}/{len(targets)}]",
                flush=True,
            )
    finally:
        stop(server)
        for leftover in glob.glob(f"{prefix}*"):
            os.unlink(leftover)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
