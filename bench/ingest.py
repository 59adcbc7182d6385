"""Ingest throughput against a bare aiohttp handler, same payload, same connections, one run.

Not a test. Needs wrk (Debian package) and a Kafka (CENSUS_BENCH_KAFKA_BOOTSTRAP, default the
shared test broker 127.0.0.1:29092); writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bars import Bar, report  # noqa: E402
from bench.compatbodies import CompatCase, cases  # noqa: E402
from bench.proc import (  # noqa: E402
    child_pids,
    cluster_cpu_seconds,
    cpu_seconds,
    listener_pid,
    peak_rss_mb,
)
from services.ingest.compat.registry import PATHS as COMPAT_PATHS  # noqa: E402
from tests.support.ingest import TEST_ID_SECRET, encode, free_port, pulse_ping  # noqa: E402
from tests.support.processes import KAFKA_CONNECTED  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest.json"
BOOTSTRAP = os.environ.get("CENSUS_BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
DURATION_S = int(os.environ.get("CENSUS_BENCH_DURATION_S", "3"))
ROUNDS = int(os.environ.get("CENSUS_BENCH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("CENSUS_BENCH_CONNECTIONS", "64"))
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def bare_server(port: int) -> None:
    """The baseline: read the body, answer 202 with a small JSON body."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            status=202, body=b'{"accepted":1,"dropped_fields":[]}', content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/v1/ping", handler)
    app.router.add_post("/v1/batch", handler)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        auto_decompress=False,
    )


def ingest_env(topic: str, port: int, ops_port: int) -> dict[str, str]:
    """The environment `census ingest` runs with in a bench: 12 partitions, no rate limit."""
    return {
        **os.environ,
        "CENSUS_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CENSUS_KAFKA_TOPIC": topic,
        "CENSUS_KAFKA_PARTITIONS": "12",
        "CENSUS_INGEST_PORT": str(port),
        "CENSUS_INGEST_OPS_PORT": str(ops_port),
        "CENSUS_INGEST_RATE_PER_S": "0",
        "CENSUS_INGEST_ID_SECRET": TEST_ID_SECRET,
        "CENSUS_LOG_LEVEL": "WARNING",
    }


def lua_script(bodies: list[bytes], path: str) -> str:
    """wrk script cycling through distinct bodies (distinct install_ids, as a fleet sends)."""
    items = ",\n".join("[==[" + body.decode() + "]==]" for body in bodies)
    return f"""
local bodies = {{
{items}
}}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "{path}", nil, bodies[i])
end
"""


def run_wrk(url: str, script: str, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def wait_http(url: str, within_s: float = 60.0, line: str | None = None) -> None:
    """Until `url` answers 200 (and, with `line`, its body has that line)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                body = response.read().decode()
                if response.status == 200 and (line is None or line in body.splitlines()):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.1)


def wait_port(port: int, within_s: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + within_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def delete_topic(topic: str) -> None:
    """The bench's topic holds a few hundred thousand pings: gone, so that a test run on the same
    broker (which reads every topic) does not have to read them."""
    import asyncio

    from tests.support.kafka import delete_topic as delete

    try:
        asyncio.run(delete(BOOTSTRAP, topic))
    except Exception as exc:  # cleanup is best effort; say so rather than fail the figures
        print(f"bench/ingest.py: could not delete topic {topic}: {exc}", file=sys.stderr)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass(frozen=True, slots=True)
class Target:
    """One load of the round: a server, a path and its bodies."""

    name: str
    url: str
    script: str
    pid: int
    pings_per_request: int = 1


@dataclass(slots=True)
class Runs:
    """A target's wrk results, round by round, with the server's CPU over them."""

    results: list[dict[str, float]] = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0
    requests: float = 0.0

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.results)

    def non_2xx(self) -> int:
        return int(sum(r["non_2xx"] for r in self.results))


def preflight(url: str, body: bytes) -> int:
    """The status one request gets: a route measured must accept its body."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def previous_p99() -> tuple[float, str] | None:
    """The p99 of the last run at the same load, from the file this run will replace (or the
    one CENSUS_BENCH_INGEST_BASELINE names, e.g. a run of main): "no worse than today"."""
    path = Path(os.environ.get("CENSUS_BENCH_INGEST_BASELINE", str(RESULTS)))
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if earlier.get("connections") != CONNECTIONS or "ingest_p99_ms" not in earlier:
        return None
    return float(earlier["ingest_p99_ms"]), str(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return 0
    if shutil.which("wrk") is None:
        print("bench/ingest.py: wrk not found (apt-get install -y wrk)", file=sys.stderr)
        return 2

    singles = [encode(pulse_ping()) for _ in range(200)]
    batches = [encode([pulse_ping() for _ in range(100)]) for _ in range(20)]
    compat_cases, notes = cases(COMPAT_PATHS, 200)
    for note in notes:
        print(f"note: {note}", flush=True)
    baseline_p99 = previous_p99()

    bare_port, port, ops_port = free_port(), free_port(), free_port()
    topic = f"census.bench.{uuid.uuid4().hex[:8]}"
    env = ingest_env(topic, port, ops_port)
    command = os.environ.get("CENSUS_BENCH_INGEST_CMD", str(ROOT / ".venv" / "bin" / "census"))
    bare = subprocess.Popen([PYTHON, __file__, "--bare-server", str(bare_port)])
    ingest = subprocess.Popen([*command.split(), "ingest"], env=env)
    bare_url, ingest_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{port}"
    targets = [
        Target("bare", bare_url, lua_script(singles, "/v1/ping"), bare.pid),
        Target("single", ingest_url, lua_script(singles, "/v1/ping"), ingest.pid),
        Target("batch", ingest_url, lua_script(batches, "/v1/batch"), ingest.pid, 100),
    ]
    runs: dict[str, Runs] = {}
    ratios: dict[str, list[float]] = {}
    """Per round: "single" → /v1/ping's rps ÷ bare's just before; "batch" → batch requests/s ÷
    that bare run's; a compat route → its rps ÷ the mean of the /v1/ping runs just before and
    just after it."""
    kafka_cpu = 0.0
    try:
        wait_port(bare_port)
        # Ready means "answers"; the producer reaching Kafka is the gauge.
        wait_http(f"http://127.0.0.1:{ops_port}/metrics", line=KAFKA_CONNECTED)
        for case in compat_cases:
            status = preflight(ingest_url + case.route, case.bodies[0])
            if status != 202:
                print(
                    f"note: {case.product}: POST {case.route} answered {status}, not 202: "
                    "skipped, no figure"
                )
                continue
            targets.append(
                Target(
                    f"compat_{case.product}",
                    ingest_url,
                    lua_script(case.bodies, case.route),
                    ingest.pid,
                )
            )
        runs = {t.name: Runs() for t in targets}
        for target in targets:  # warm-up
            run_wrk(target.url, target.script, 2)
        kafka = listener_pid(int(BOOTSTRAP.rpartition(":")[2]))
        by_name = {t.name: t for t in targets}
        # The machine is shared and its speed drifts by 2x within a minute: each ratio is taken
        # between back-to-back runs (bare then /v1/ping; a compat route between two /v1/ping
        # runs, whose mean cancels a drift across the three), and its figure is the median of
        # the rounds' ratios.
        order = ["bare", "single", "batch"]
        for target in targets[3:]:
            order += ["single", target.name]
        if len(targets) > 3:
            order.append("single")
        latest: dict[str, float] = {}
        previous = ""
        for round_ in range(1, ROUNDS + 1):
            compat_pending: tuple[str, float, float] | None = None  # (name, rps, single before)
            for name in order:
                target = by_name[name]
                run = runs[target.name]
                cpu, wall = cluster_cpu_seconds(target.pid), time.perf_counter()
                kafka_before = cpu_seconds(kafka) if kafka else float("nan")
                run.results.append(run_wrk(target.url, target.script, DURATION_S))
                elapsed = time.perf_counter() - wall
                run.cpu += cluster_cpu_seconds(target.pid) - cpu
                run.wall += elapsed
                run.requests += run.results[-1]["rps"] * elapsed
                if target.name == "batch":
                    kafka_cpu += (cpu_seconds(kafka) if kafka else float("nan")) - kafka_before
                latest[name] = run.results[-1]["rps"]
                if name == "single" and previous == "bare":
                    ratios.setdefault("single", []).append(latest["single"] / latest["bare"])
                elif name == "batch":
                    ratios.setdefault("batch", []).append(latest["batch"] / latest["bare"])
                elif name.startswith("compat_"):
                    compat_pending = (name, latest[name], latest["single"])
                if name == "single" and compat_pending is not None:
                    compat, rps, before = compat_pending
                    ratios.setdefault(compat, []).append(rps / ((before + latest["single"]) / 2))
                    compat_pending = None
                previous = name
            print(f"bench/ingest.py: round {round_} of {ROUNDS} done", file=sys.stderr, flush=True)
        # Per process: with CENSUS_INGEST_WORKERS=N the workers are the supervisor's children.
        rss = max(peak_rss_mb(pid) for pid in (ingest.pid, *child_pids(ingest.pid)))
    finally:
        stop(bare)
        stop(ingest)
        delete_topic(topic)
    bare_rps = runs["bare"].median("rps")
    single, batch = runs["single"], runs["batch"]
    single_rps, batch_rps = single.median("rps"), batch.median("rps")
    batch_pings = batch.requests * 100
    figures: dict[str, Any] = {
        "bare_rps": round(bare_rps, 1),
        "ingest_rps": round(single_rps, 1),
        "ingest_vs_bare": round(statistics.median(ratios["single"]), 3),
        "ingest_p99_ms": round(single.median("p99_ms"), 2),
        "ingest_p99_ms_previous": round(baseline_p99[0], 2) if baseline_p99 else None,
        "batch_pings_per_s": round(batch_rps * 100, 1),  # median of the rounds
        "ingest_rss_mb": round(rss, 1),
        # Ingest's CPU seconds per second under load: near 1.0 means bound by its own Python.
        "ingest_cpu_cores_single": round(single.cpu / single.wall, 2),
        # CPU per single-ping request of each server (approximate: rps times wall time).
        "bare_cpu_us_per_request": round(runs["bare"].cpu / runs["bare"].requests * 1e6, 1),
        "ingest_cpu_us_per_request": round(single.cpu / single.requests * 1e6, 1),
        "ingest_cpu_cores_batch": round(batch.cpu / batch.wall, 2),
        "ingest_cpu_us_per_batch_ping": round(batch.cpu / batch_pings * 1e6, 1),
        "kafka_cpu_us_per_batch_ping": round(kafka_cpu / batch_pings * 1e6, 1),
        # This machine's speed factored out: the 100k pings/s target was set beside a bare
        # handler doing about 30k requests/s, so it asks for about 3.3 here.
        "batch_pings_per_s_vs_bare_rps": round(statistics.median(ratios["batch"]) * 100, 2),
    }
    for case in compat_cases:
        name = f"compat_{case.product}"
        if name not in runs:
            continue
        run = runs[name]
        figures[f"{name}_rps"] = round(run.median("rps"), 1)
        figures[f"{name}_vs_canonical"] = round(statistics.median(ratios[name]), 3)
        figures[f"{name}_vs_canonical_runs"] = [round(r, 3) for r in ratios[name]]
        figures[f"{name}_rps_runs"] = [round(r["rps"], 1) for r in run.results]
        figures[f"{name}_p99_ms"] = round(run.median("p99_ms"), 2)
        figures[f"{name}_cpu_us_per_request"] = round(run.cpu / run.requests * 1e6, 1)
        figures[f"{name}_non_2xx"] = run.non_2xx()
        figures[f"{name}_body"] = case.source
    figures |= {
        "ingest_non_2xx": single.non_2xx() + batch.non_2xx(),
        "ingest_workers": int(os.environ.get("CENSUS_INGEST_WORKERS", "1")),
        "connections": CONNECTIONS,
        "duration_s": DURATION_S,
        "rounds": ROUNDS,
        "bare_rps_runs": [round(r["rps"], 1) for r in runs["bare"].results],
        "ingest_rps_runs": [round(r["rps"], 1) for r in single.results],
        "ingest_vs_bare_runs": [round(r, 3) for r in ratios["single"]],
        "batch_pings_per_s_runs": [round(r["rps"] * 100, 1) for r in batch.results],
        "ping_bytes": len(singles[0]),
        "notes": notes,
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    figures["bars"] = report(bars(compat_cases, baseline_p99), figures)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def bars(compat_cases: list[CompatCase], baseline_p99: tuple[float, str] | None) -> list[Bar]:
    out = [Bar(f"compat_{c.product}_vs_canonical", ">=", 0.8) for c in compat_cases]
    out += [
        Bar("ingest_vs_bare", ">=", 0.5),
        Bar("batch_pings_per_s_vs_bare_rps", ">=", 5),
        Bar("ingest_rss_mb", "<=", 150),
    ]
    if baseline_p99 is None:
        out.append(
            Bar(
                "ingest_p99_ms",
                "<=",
                math.nan,
                "no earlier run at the same load to compare with",
                "the previous run's x1.1",
            )
        )
    else:
        # "No worse than today": the earlier run's p99, with 10 % for a shared machine's noise.
        limit = round(baseline_p99[0] * 1.1, 2)
        text = f"{limit:g} (the previous run's {baseline_p99[0]:g} x1.1, {baseline_p99[1]})"
        out.append(Bar("ingest_p99_ms", "<=", limit, target_text=text))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
