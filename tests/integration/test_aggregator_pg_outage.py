"""PostgreSQL goes away under the aggregator: it stays up, reports not ready, retries, and
catches up exactly once PostgreSQL is back. Uses a private PostgreSQL (the shared one stays)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from schemas.catalog import load_catalogs
from schemas.record import encode_record, record_key
from tests.support.aggregator import (
    drop_database,
    fleet,
    migrated_database,
    produce,
    stored_total,
    truth,
    truth_views,
    view_contents,
)
from tests.support.kafka import create_topic, delete_topic, unique_topic
from tests.support.ports import PG_OUTAGE
from tests.support.stack import ROOT, LocalStack, StackEndpoints

CATALOGS = load_catalogs()
LOG = ROOT / ".local" / "test-aggregator-outage.log"  # the aggregator's output, for a failure


@pytest.fixture
def private_pg() -> Iterator[LocalStack]:
    stack = LocalStack.private("test-aggregator", PG_OUTAGE)
    stack.start_postgres()
    try:
        yield stack
    finally:
        stack.stop_postgres()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def until_true(check: Callable[[], Any], within_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.2)


async def test_postgres_outage_pauses_and_recovers_exactly(
    private_pg: LocalStack, stack_endpoints: StackEndpoints
) -> None:
    admin_dsn = private_pg.dsn("census")
    name = await migrated_database(admin_dsn, lambda db: private_pg.dsn(db))
    dsn = private_pg.dsn(name)
    topic = unique_topic()
    await create_topic(stack_endpoints.bootstrap, topic, partitions=3)
    records = fleet(5, installs=200, days=2, pings=6000)
    half = len(records) // 2
    group = f"agg-{uuid.uuid4().hex[:8]}"
    port = free_port()
    process = spawn(
        {
            **os.environ,
            "CENSUS_KAFKA_BOOTSTRAP": stack_endpoints.bootstrap,
            "CENSUS_KAFKA_TOPIC": topic,
            "CENSUS_KAFKA_DLQ_TOPIC": topic + ".dlq",
            "CENSUS_KAFKA_PARTITIONS": "3",
            "CENSUS_PG_DSN": private_pg.dsn(name, user="census_aggregator"),
            "CENSUS_PG_CONNECT_TIMEOUT_S": "1",
            "CENSUS_AGGREGATOR_GROUP": group,
            "CENSUS_AGGREGATOR_OPS_PORT": str(port),
            "CENSUS_AGGREGATOR_RETRY_MAX_S": "1",
            "CENSUS_AGGREGATOR_BATCH_RECORDS": "500",
        },
    )
    try:
        encoded = [(record_key(r), encode_record(r)) for r in records]
        await produce(stack_endpoints.bootstrap, topic, encoded[:half])
        await until_true(lambda: stored_total(dsn, group, topic), 60, "first flushes")
        await until_true(lambda: readyz(port) == 200, 30, "ready")

        private_pg.stop_postgres()
        await produce(stack_endpoints.bootstrap, topic, encoded[half:])
        await until_true(lambda: readyz(port) == 503, 30, "not ready while PostgreSQL is down")
        assert process.poll() is None

        private_pg.start_postgres()
        await until_true(
            lambda: _all_stored(dsn, group, topic, len(records)), 120, "caught up after outage"
        )
        await until_true(lambda: readyz(port) == 200, 30, "ready again")
        assert await view_contents(dsn) == truth_views(truth(records, CATALOGS))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        await delete_topic(stack_endpoints.bootstrap, topic)
        await drop_database(admin_dsn, name)
    assert code == 0


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "aggregate"],
        cwd=ROOT,
        env=env,
        stdout=LOG.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _all_stored(dsn: str, group: str, topic: str, total: int) -> bool:
    try:
        return await stored_total(dsn, group, topic) >= total
    except OSError:
        return False
