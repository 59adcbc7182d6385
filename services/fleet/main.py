"""`census fleet`: simulate N installs pinging an ingest URL; write the acknowledged pings."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import random
import sys
from pathlib import Path

from schemas.catalog import load_catalogs
from services.common.lifecycle import run_service
from services.common.logs import configure_logging
from services.common.settings import (
    KafkaSettings,
    LogSettings,
    SettingsError,
    command_parser,
    load,
    setting,
)
from services.fleet.backfill import produce
from services.fleet.history import history
from services.fleet.model import Install, make_fleet
from services.fleet.schedule import pings
from services.fleet.sender import FleetSender, SendPlan

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FleetSettings:
    url: str = setting("CENSUS_INGEST_URL", "http://127.0.0.1:8080", "ingest base URL")
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    kafka: KafkaSettings = dataclasses.field(default_factory=KafkaSettings)


def parse_args(argv: list[str], defaults: FleetSettings) -> argparse.Namespace:
    parser = command_parser(
        "census fleet",
        "Send realistic pings from a simulated fleet; deterministic for a given --seed.",
        FleetSettings,
    )
    parser.add_argument("--url", default=defaults.url, help="ingest base URL [%(default)s]")
    parser.add_argument(
        "--installs", type=int, default=2000, help="simulated installs [%(default)s]"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="pings per second [%(default)s]")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of sending [%(default)s]"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight [%(default)s]"
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="pings per request; 1 uses /v1/ping [%(default)s]"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed [%(default)s]")
    parser.add_argument(
        "--heartbeat", type=float, default=None, help="compressed day in seconds [installs / rate]"
    )
    parser.add_argument(
        "--truth", type=Path, default=None, help="write every acknowledged ping here (JSON lines)"
    )
    parser.add_argument(
        "--without-ping-id",
        action="store_true",
        help="send no ping_id (a sub-second sent_at instead), as most real clients do",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="seconds to finish retries at the end [%(default)s]",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="instead of pinging: produce the fleet's back-dated history of that many days "
        "before today straight to Kafka (CENSUS_KAFKA_*), then exit",
    )
    args = parser.parse_args(argv)
    if args.history_days < 0 or args.history_days > 89:
        parser.error("--history-days must be 0..89 (within the per-install horizon)")
    for name in ("installs", "concurrency", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    return args


def backfill_history(
    settings: FleetSettings, fleet: list[Install], days: int, rng: random.Random
) -> int:
    """Produces the history and prints how many records Kafka acknowledged."""
    today = dt.datetime.now(dt.UTC).date()
    records = history(rng, fleet, load_catalogs(), today=today, days=days)
    log.info("history of %d installs over the %d days before %s", len(fleet), days, today)
    sent = asyncio.run(produce(settings.kafka, records))
    print(f"history: {sent} records produced")
    return 0 if sent > 0 else 1


def main(argv: list[str]) -> int:
    try:
        settings = load(FleetSettings)
    except SettingsError as exc:
        print(f"census fleet: {exc}", file=sys.stderr)
        return 2
    args = parse_args(argv, settings)
    configure_logging("fleet", settings.log)
    rng = random.Random(args.seed)
    catalogs = load_catalogs()
    fleet = make_fleet(rng, catalogs, args.installs)
    if args.history_days:
        return backfill_history(settings, fleet, args.history_days, random.Random(args.seed + 1))
    heartbeat = args.heartbeat or args.installs / args.rate
    plan = SendPlan(
        url=args.url.rstrip("/"),
        rate=args.rate,
        duration_s=args.duration,
        concurrency=args.concurrency,
        batch=args.batch,
        drain_s=args.drain,
        without_ping_id=args.without_ping_id,
    )
    log.info(
        "fleet of %d installs -> %s at %.0f pings/s for %.0fs (seed %d)",
        args.installs, plan.url, plan.rate, plan.duration_s, args.seed,
    )  # fmt: skip

    async def run(stop: asyncio.Event) -> int:
        truth = args.truth.open("w", encoding="utf-8") if args.truth else None
        try:
            sender = FleetSender(
                plan, pings(rng, fleet, catalogs, heartbeat_s=heartbeat), truth, rng
            )
            stats = await sender.run(stop)
        finally:
            if truth is not None:
                truth.close()
        log.info(
            "done: %d pings acknowledged, %d rejected, %d unconfirmed",
            stats.accepted,
            stats.rejected,
            stats.unconfirmed,
        )
        return 0 if stats.rejected == 0 and stats.unconfirmed == 0 and stats.accepted > 0 else 1

    return run_service(run)
