"""Suite-wide fixtures. Tests under tests/integration get the `integration` marker and the real
stack; unit tests never touch a server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings

from tests.support.kafka import create_topic, delete_topic, unique_topic
from tests.support.stack import LocalStack, StackEndpoints

TESTS = Path(__file__).parent
SUITE_MARKERS = {"integration", "e2e", "faults"}

# Property tests assert behaviour, never speed (speed lives in bench/): no per-example deadline,
# which a shared machine's 2x swings in speed would break at random. On CI (.ci/run sets CI) the
# examples are also derived from each test's name, so a red run is red again on any machine.
settings.register_profile("census")
settings.register_profile("census-ci", deadline=None, derandomize=True)
settings.load_profile("census-ci" if os.environ.get("CI") else "census")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(TESTS).parts[0]
        if folder in SUITE_MARKERS:
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def stack_endpoints() -> Iterator[StackEndpoints]:
    """Real Kafka and PostgreSQL: reused when named by environment, else started and stopped."""
    bootstrap = os.environ.get("CENSUS_TEST_KAFKA_BOOTSTRAP")
    admin_dsn = os.environ.get("CENSUS_TEST_PG_DSN")
    if bootstrap and admin_dsn:
        yield StackEndpoints(bootstrap, admin_dsn, None)
        return
    stack = LocalStack()
    stack.up()
    try:
        yield StackEndpoints(stack.bootstrap, stack.dsn("census"), stack)
    finally:
        stack.down()


@asynccontextmanager
async def temporary_database(endpoints: StackEndpoints) -> AsyncIterator[str]:
    """A new empty database on the test PostgreSQL; its DSN. Dropped afterwards."""
    name = f"census_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(endpoints.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield endpoints.dsn(name)
    finally:
        admin = await asyncpg.connect(endpoints.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def database(stack_endpoints: StackEndpoints) -> AsyncIterator[str]:
    """A fresh, empty database shared by one test module."""
    async with temporary_database(stack_endpoints) as dsn:
        yield dsn


@pytest.fixture
async def fresh_database(stack_endpoints: StackEndpoints) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    async with temporary_database(stack_endpoints) as dsn:
        yield dsn


@asynccontextmanager
async def _fresh_topic(bootstrap: str) -> AsyncIterator[str]:
    name = unique_topic()
    await create_topic(bootstrap, name, partitions=3)
    try:
        yield name
    finally:
        await delete_topic(bootstrap, name)


@pytest.fixture(scope="module")
async def topic(stack_endpoints: StackEndpoints) -> AsyncIterator[str]:
    """A fresh 3-partition topic for one test module; deleted afterwards."""
    async with _fresh_topic(stack_endpoints.bootstrap) as name:
        yield name


@pytest.fixture
async def own_topic(stack_endpoints: StackEndpoints) -> AsyncIterator[str]:
    """A fresh 3-partition topic for one test (`topic` is shared by a module's tests)."""
    async with _fresh_topic(stack_endpoints.bootstrap) as name:
        yield name
