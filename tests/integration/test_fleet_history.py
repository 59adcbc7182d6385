"""`census fleet --history-days`: back-dated records through the real Kafka and the real
aggregator, counted in the analyst views exactly as the ground truth says, day by day."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from schemas.catalog import load_catalogs
from services.aggregator.config import AggregatorSettings
from services.aggregator.consumer import Aggregator
from services.aggregator.metrics import AggregatorMetrics
from services.aggregator.pgstore import PgRollupStore
from services.common.settings import load
from services.fleet.history import history
from services.fleet.model import make_fleet
from tests.support.aggregator import (
    drop_database,
    migrated_database,
    stored_total,
    truth,
    truth_views,
    view_contents,
)
from tests.support.kafka import create_topic, delete_topic, unique_topic
from tests.support.processes import CENSUS
from tests.support.stack import ROOT, StackEndpoints

CATALOGS = load_catalogs()
INSTALLS, DAYS, SEED = 200, 12, 5


@pytest.fixture
async def env(stack_endpoints: StackEndpoints) -> AsyncIterator[tuple[str, str, str, str]]:
    name = await migrated_database(stack_endpoints.admin_dsn, stack_endpoints.dsn)
    topic, dlq = unique_topic(), unique_topic("census.test.dlq")
    await create_topic(stack_endpoints.bootstrap, topic, partitions=3)
    await create_topic(stack_endpoints.bootstrap, dlq, partitions=1)
    try:
        yield (
            topic,
            dlq,
            stack_endpoints.dsn(name),
            stack_endpoints.dsn(name, user="census_aggregator"),
        )
    finally:
        await delete_topic(stack_endpoints.bootstrap, topic)
        await delete_topic(stack_endpoints.bootstrap, dlq)
        await drop_database(stack_endpoints.admin_dsn, name)


async def test_history_through_kafka_and_the_aggregator(
    env: tuple[str, str, str, str], stack_endpoints: StackEndpoints
) -> None:
    topic, dlq, dsn, aggregator_dsn = env
    kafka = {"CENSUS_KAFKA_BOOTSTRAP": stack_endpoints.bootstrap, "CENSUS_KAFKA_TOPIC": topic}
    today = dt.datetime.now(dt.UTC).date()
    result = await asyncio.to_thread(
        subprocess.run,
        [
            str(CENSUS),
            "fleet",
            "--history-days",
            str(DAYS),
            "--installs",
            str(INSTALLS),
            "--seed",
            str(SEED),
        ],
        env={**os.environ, **kafka},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fleet = make_fleet(random.Random(SEED), CATALOGS, INSTALLS)
    expected = list(history(random.Random(SEED + 1), fleet, CATALOGS, today=today, days=DAYS))
    assert f"history: {len(expected)} records produced" in result.stdout

    settings = load(
        AggregatorSettings,
        {
            **kafka,
            "CENSUS_KAFKA_DLQ_TOPIC": dlq,
            "CENSUS_PG_DSN": aggregator_dsn,
            "CENSUS_AGGREGATOR_GROUP": "history-test",
            "CENSUS_AGGREGATOR_OPS_PORT": "0",
        },
    )
    stop = asyncio.Event()
    async with PgRollupStore(settings.pg.dsn, connect_timeout_s=5, statement_timeout_s=30) as store:
        aggregator = Aggregator(
            settings, store, CATALOGS, AggregatorMetrics.create(CollectorRegistry())
        )
        task = asyncio.create_task(aggregator.run(stop))
        try:
            deadline = asyncio.get_running_loop().time() + 120
            while await stored_total(dsn, "history-test", topic) < len(expected):
                assert asyncio.get_running_loop().time() < deadline, "history not counted in 120 s"
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=60)

    assert await view_contents(dsn) == truth_views(truth(expected, CATALOGS))
    conn = await asyncpg.connect(dsn)
    try:
        days = await conn.fetch(
            "SELECT product, count(*) AS n FROM dau_wau_mau WHERE day < $1 GROUP BY product", today
        )
    finally:
        await conn.close()
    assert {r["product"]: r["n"] for r in days} == {p: DAYS for p in CATALOGS.products}
