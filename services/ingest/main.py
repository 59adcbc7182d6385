"""`census ingest`: the HTTP gateway, optionally as N processes sharing the public port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Final

from aiohttp import web
from aiokafka import codec
from prometheus_client import CollectorRegistry

from services.common.httpserver import CensusAppRunner
from services.common.lifecycle import run_service
from services.common.logs import configure_logging
from services.common.ops import OpsServer
from services.common.settings import (
    SettingsError,
    command_parser,
    load,
    warn_unknown_variables,
)
from services.ingest.app import GATEWAY, create_app, readiness, runner_options
from services.ingest.config import IngestSettings

log = logging.getLogger(__name__)

_REUSE_PORT: Final = "--reuse-port"  # internal: set by the parent of --workers N
_CODECS: Final = {"lz4": codec.has_lz4, "zstd": codec.has_zstd, "snappy": codec.has_snappy}


async def serve(settings: IngestSettings, stop: asyncio.Event, *, reuse_port: bool = False) -> int:
    """Serve until `stop`; then stop accepting, answer in-flight requests, flush, return 0."""
    registry = CollectorRegistry()
    app = create_app(settings, registry=registry)
    # aiohttp may spend its shutdown_timeout twice on a stuck request (wait, then cancel and
    # wait); half the budget goes there so the producer's flush keeps the other half and the
    # whole stop stays within CENSUS_INGEST_SHUTDOWN_TIMEOUT_S.
    runner = CensusAppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout_s / 4,
        **runner_options(settings, app),
    )
    stopping = False

    def ready() -> str | None:
        return "shutting down" if stopping else readiness(app)

    async with OpsServer(
        host=settings.ops.host,
        port=settings.ops_port,
        registry=registry,
        readiness=ready,
        routes={"/undeclared": app[GATEWAY].undeclared.report},
    ):
        await runner.setup()
        try:
            site = web.TCPSite(
                runner,
                settings.host,
                settings.port,
                backlog=1024,
                reuse_port=reuse_port or None,
            )
            await site.start()
            log.info("ingest listening on %s:%s", settings.host, _bound_port(runner))
            await stop.wait()
            stopping = True
            log.info("stopping: answering in-flight requests, then flushing the producer")
        finally:
            # Stops listening, waits for running handlers, then closes the publisher (flush).
            started = time.monotonic()
            await runner.cleanup()
    log.info("ingest stopped in %.1f s", time.monotonic() - started)
    return 0


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    return 0


def _supervise(settings: IngestSettings, argv: list[str]) -> int:
    """Run `settings.workers` copies of this command on one port; worker i has ops port + i."""
    if settings.port == 0:
        print("census ingest: --workers > 1 needs a fixed CENSUS_INGEST_PORT", file=sys.stderr)
        return 2
    children: list[subprocess.Popen[bytes]] = []
    for index in range(settings.workers):
        env = dict(os.environ)
        env["CENSUS_INGEST_WORKERS"] = "1"
        env["CENSUS_INGEST_OPS_PORT"] = str(settings.ops_port + index if settings.ops_port else 0)
        command = [sys.executable, "-m", "services.cli", "ingest", _REUSE_PORT]
        children.append(subprocess.Popen(command, env=env))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, key=abs)


def main(argv: list[str]) -> int:
    parser = command_parser(
        "census ingest",
        "HTTP gateway: validates pings against the product catalogs and publishes "
        "them to Kafka; 202 only after the broker acknowledged.",
        IngestSettings,
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes sharing the public port with SO_REUSEPORT (default CENSUS_INGEST_WORKERS); "
        "worker i serves ops on CENSUS_INGEST_OPS_PORT + i",
    )
    parser.add_argument(_REUSE_PORT, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        settings = load(IngestSettings)
    except SettingsError as exc:
        print(f"census ingest: {exc}", file=sys.stderr)
        return 2
    check = _CODECS.get(settings.compression)
    if check is not None and not check():
        print(
            f"census ingest: CENSUS_INGEST_COMPRESSION={settings.compression} needs the cramjam "
            "package; use gzip or install it",
            file=sys.stderr,
        )
        return 2
    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        print("census ingest: --workers must be at least 1", file=sys.stderr)
        return 2
    configure_logging("ingest", settings.log)
    # CENSUS_INGEST_URL is where clients (census fleet, make env) find ingest, not its setting.
    warn_unknown_variables(
        IngestSettings, "CENSUS_INGEST_", log, others=frozenset({"CENSUS_INGEST_URL"})
    )
    if workers > 1:
        from dataclasses import replace

        return _supervise(replace(settings, workers=workers), argv)
    return run_service(
        lambda stop: serve(settings, stop, reuse_port=args.reuse_port), serves_http=True
    )
