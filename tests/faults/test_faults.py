"""Faults while the fleet runs: kill -9 a service, stop Kafka, stop PostgreSQL; then recovery.

After each: every ping acknowledged with 202 is counted exactly once, nothing else is counted,
ingest answered 503 (never 202) while Kafka was down, and every service is ready again without
anyone restarting it (except the one that was killed).

These tests stop servers, so they run on a private Kafka and PostgreSQL of their own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from schemas.catalog import load_catalogs
from tests.conftest import temporary_database
from tests.support.pipeline import Pipeline, actual_views, run_fleet, running_pipeline, wait_counted
from tests.support.ports import FAULTS
from tests.support.processes import KAFKA_CONNECTED, wait_until_metric, wait_until_ready
from tests.support.stack import LocalStack, StackEndpoints
from tests.support.truth import expected_views, identity, load_truth
from tests.support.utcday import same_utc_day_for

CATALOGS = load_catalogs()
FLEET_SECONDS = 30
FAULT_AFTER_S = 6


@pytest.fixture(scope="module")
def private_stack() -> Iterator[StackEndpoints]:
    stack = LocalStack.private("test-faults", FAULTS)
    stack.up()
    try:
        yield StackEndpoints(stack.bootstrap, stack.dsn("census"), stack)
    finally:
        stack.down()


def probe_ping(*, with_ping_id: bool) -> dict[str, object]:
    ping: dict[str, object] = {
        "product": "novu",
        "install_id": str(uuid.uuid4()),
        "event": "beacon",
        "version": "2.0.0",
        "os": "linux",
        "arch": "amd64",
    }
    if with_ping_id:
        ping["ping_id"] = str(uuid.uuid4())
    else:  # as most real clients: no id, the client's clock in the body
        ping["sent_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    return ping


LAST_REPLY: dict[str, bytes] = {}
"""The body of the last answer `post` got, to name what a probe kept getting."""


async def post(session: aiohttp.ClientSession, url: str, ping: dict[str, object]) -> int:
    try:
        async with session.post(url + "/v1/ping", json=ping) as response:
            LAST_REPLY["body"] = await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        LAST_REPLY["body"] = repr(exc).encode()
        return 0


async def probe_until(
    url: str, stop: asyncio.Event, statuses: list[int], probes: list[dict[str, object]]
) -> None:
    """Post fresh pings every 0.2 s until `stop`, half of them without ping_id; record each
    status and what was sent."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        while not stop.is_set():
            ping = probe_ping(with_ping_id=len(probes) % 2 == 0)
            probes.append(ping)
            statuses.append(await post(session, url, ping))
            await asyncio.sleep(0.2)


async def deliver(url: str, pings: list[dict[str, object]], truth: Path) -> None:
    """Resend every probe until it is acknowledged (the same body, as a client retries) into
    truth: records behind a 503 may reach Kafka all the same, and none may count twice."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        with truth.open("a", encoding="utf-8") as out:
            for ping in pings:
                deadline = asyncio.get_running_loop().time() + 60
                while (status := await post(session, url, ping)) != 202:
                    assert asyncio.get_running_loop().time() < deadline, (
                        f"ingest did not recover: {status} {LAST_REPLY.get('body')!r} for {ping}"
                    )
                    await asyncio.sleep(0.5)
                out.write(json.dumps(ping, sort_keys=True) + "\n")


Fault = Callable[[Pipeline, LocalStack, Path], Awaitable[None]]


async def kill_ingest(pipeline: Pipeline, _stack: LocalStack, _truth: Path) -> None:
    pipeline.ingest.kill()
    await asyncio.sleep(1)  # the fleet meets a dead port for a moment, as in a real crash
    await pipeline.ingest.start()


async def kill_aggregator(pipeline: Pipeline, _stack: LocalStack, _truth: Path) -> None:
    pipeline.aggregator.kill()
    await asyncio.sleep(1)
    await pipeline.aggregator.start(ready_within_s=90)


async def stop_kafka(pipeline: Pipeline, stack: LocalStack, probes_truth: Path) -> None:
    await asyncio.to_thread(stack.stop_kafka)
    stop, statuses, probes = asyncio.Event(), list[int](), list[dict[str, object]]()
    prober = asyncio.create_task(probe_until(pipeline.ingest_url, stop, statuses, probes))
    await asyncio.sleep(10)
    stop.set()
    await prober
    assert 202 not in statuses, "ingest acknowledged a ping while Kafka was down"
    assert statuses.count(503) >= 5, statuses
    await asyncio.to_thread(stack.start_kafka)
    for service in pipeline.services:
        await wait_until_ready(service.ready_url, within_s=90, process=service.process)
    # Ingest is ready while Kafka is away (it answers 503 itself): wait until it is connected.
    await wait_until_metric(
        f"http://127.0.0.1:{pipeline.ingest.ops_port}/metrics",
        KAFKA_CONNECTED,
        within_s=90,
        process=pipeline.ingest.process,
    )
    await deliver(pipeline.ingest_url, probes, probes_truth)


async def stop_postgres(pipeline: Pipeline, stack: LocalStack, _truth: Path) -> None:
    await asyncio.to_thread(stack.stop_postgres)
    await asyncio.sleep(10)
    await asyncio.to_thread(stack.start_postgres)
    await wait_until_ready(
        pipeline.aggregator.ready_url, within_s=90, process=pipeline.aggregator.process
    )


@pytest.mark.parametrize(
    ("fault", "with_ping_id"),
    [
        (kill_ingest, True),
        (kill_aggregator, True),
        (stop_kafka, True),
        (stop_postgres, True),
        # Clients that send no ping_id (most real ones): the retries that follow a 503 or a
        # dead connection must still count once (hardening issue, item 8).
        (stop_kafka, False),
        (kill_ingest, False),
    ],
    ids=[
        "kill-9-ingest",
        "kill-9-aggregator",
        "kafka-down-10s",
        "postgres-down-10s",
        "kafka-down-10s-without-ping-id",
        "kill-9-ingest-without-ping-id",
    ],
)
async def test_exactly_once_through_the_fault(
    private_stack: StackEndpoints, tmp_path: Path, fault: Fault, with_ping_id: bool
) -> None:
    assert private_stack.stack is not None
    await same_utc_day_for(seconds=300)
    truth = tmp_path / "truth.jsonl"
    async with (
        temporary_database(private_stack) as dsn,
        running_pipeline(
            bootstrap=private_stack.bootstrap, dsn=dsn, logs=tmp_path / "logs"
        ) as pipeline,
    ):
        fleet = await run_fleet(
            pipeline.ingest_url,
            truth,
            seconds=FLEET_SECONDS,
            rate=150,
            installs=500,
            batch=5,
            seed=7,
            with_ping_id=with_ping_id,
        )
        await asyncio.sleep(FAULT_AFTER_S)
        # The probes' own truth file: the fleet is still writing to its own.
        probes = tmp_path / "probes.jsonl"
        await fault(pipeline, private_stack.stack, probes)
        _, stderr = await fleet.communicate()
        assert fleet.returncode == 0, stderr.decode()[-3000:]
        pings = load_truth(truth) + (load_truth(probes) if probes.exists() else [])
        unique = len({identity(p) for p in pings})
        counted = await wait_counted(dsn, unique, within_s=120)
        assert counted == unique, f"{counted} pings counted, {unique} acknowledged"
        for service in pipeline.services:
            await wait_until_ready(service.ready_url, within_s=30, process=service.process)
        expected = expected_views(pings, CATALOGS)
        actual = await actual_views(dsn, dt.datetime.now(dt.UTC).date())
        assert actual.active == expected.active
        assert actual.dau == expected.dau
        assert actual.events == expected.events
