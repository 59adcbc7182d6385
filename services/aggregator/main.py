"""`census aggregate`: consume census.pings.v1 into the PostgreSQL rollups."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from schemas.catalog import CatalogError, load_catalogs
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.aggregator.store import SourceConflict
from services.common.lifecycle import run_service, wait_or_stop
from services.common.logs import configure_logging
from services.common.ops import OpsServer
from services.common.settings import (
    SettingsError,
    command_parser,
    load,
    warn_unknown_variables,
)
from services.common.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)

EXIT_SOURCE_CONFLICT = 3
"""The database's rollups come from another group, topic or partition count (store.Source)."""


async def _ensure_topics(settings: AggregatorSettings, stop: asyncio.Event) -> bool:
    """Create the pings and dead-letter topics if missing; waits for Kafka. False if stopped."""
    k = settings.kafka
    specs = [
        TopicSpec(k.topic, k.partitions, k.retention_ms, k.replication_factor),
        TopicSpec(k.dlq_topic, k.partitions, k.retention_ms, k.replication_factor),
    ]
    delay = 0.5
    while not stop.is_set():
        try:
            await ensure_topics(k.bootstrap, specs)
            return True
        except (KafkaError, OSError) as exc:
            log.warning(
                "Kafka not reachable at %s, retrying in %.1f s: %s", k.bootstrap, delay, exc
            )
            if await wait_or_stop(stop, delay):
                break
            delay = min(delay * 2, settings.retry_max_s)
    return False


@asynccontextmanager
async def rollup_stores(settings: AggregatorSettings) -> AsyncIterator[list[PgRollupStore]]:
    """One store (a PostgreSQL connection) per flush lane; the first also serves the loop."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                PgRollupStore(
                    settings.pg.dsn,
                    connect_timeout_s=settings.pg.connect_timeout_s,
                    statement_timeout_s=settings.statement_timeout_s,
                )
            )
            for _ in range(settings.flush_lanes)
        ]


async def serve(settings: AggregatorSettings, stop: asyncio.Event) -> int:
    catalogs = load_catalogs()
    registry = CollectorRegistry()
    metrics = AggregatorMetrics.create(registry)
    async with rollup_stores(settings) as (store, *lane_stores):
        aggregator = Aggregator(settings, store, catalogs, metrics, lane_stores=lane_stores)
        async with OpsServer(
            host=settings.ops.host,
            port=settings.ops_port,
            registry=registry,
            readiness=aggregator.readiness,
        ):
            if not await _ensure_topics(settings, stop):
                return 0
            log.info("consuming %s as group %s", settings.kafka.topic, settings.group)
            try:
                await aggregator.run(stop)
            except SourceConflict as exc:
                log.error("refusing to count: %s", exc)
                return EXIT_SOURCE_CONFLICT
    log.info("stopped")
    return 0


def main(argv: list[str]) -> int:
    parser = command_parser(
        "census aggregate",
        "Consume pings from Kafka into the PostgreSQL rollups, exactly once.",
        AggregatorSettings,
    )
    parser.parse_args(argv)
    try:
        settings = load(AggregatorSettings)
        load_catalogs()
    except (SettingsError, CatalogError) as exc:
        print(f"census aggregate: {exc}", file=sys.stderr)
        return 2
    configure_logging("aggregator", settings.log)
    warn_unknown_variables(AggregatorSettings, "CENSUS_AGGREGATOR_", log)
    return run_service(lambda stop: serve(settings, stop), batch_worker=True)
