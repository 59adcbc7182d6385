"""`census retention` as a command on a real PostgreSQL: --dry-run changes nothing, the service
serves its ops port, passes on schedule and exits 0 on SIGTERM, releasing its lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from services.retention.store import RETENTION_LOCK_KEY
from tests.support.processes import ServiceProcess, free_port
from tests.support.retention import DAY, as_role, migrate_database, partition_days, seed_days
from tests.support.stack import ROOT

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate_database(database, TODAY)
    conn = await asyncpg.connect(database)
    try:
        await seed_days(conn, TODAY, 120)
        yield conn
    finally:
        await conn.close()


async def snapshot(conn: asyncpg.Connection) -> dict[str, object]:
    tables = [r[0] for r in await conn.fetch("SELECT table_name FROM census_partitioned_tables")]
    return {
        "partitions": {t: await partition_days(conn, t) for t in sorted(tables)},
        "install_days": await conn.fetchval("SELECT count(*) FROM install_days"),
        "install_activity": await conn.fetchval("SELECT count(*) FROM install_activity"),
    }


async def test_dry_run_prints_the_plan_and_changes_nothing(
    admin: asyncpg.Connection, database: str
) -> None:
    before = await snapshot(admin)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "retention", "--once", "--dry-run"],
        env={**os.environ, "CENSUS_PG_DSN": database},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("dry run: nothing was changed")
    oldest = TODAY - 119 * DAY
    assert f"  drop   install_days_p{oldest:%Y%m%d} ({oldest.isoformat()}, ~" in result.stdout
    drops = [line for line in lines if line.startswith("  drop   install_days_p")]
    assert len(drops) == 30
    keep = TODAY - 89 * DAY
    assert f"install_days_p{keep:%Y%m%d}" not in result.stdout
    assert not any(line.startswith("  drop   rollup_") for line in lines)
    ahead = TODAY + 7 * DAY
    assert f"  create install_days_p{ahead:%Y%m%d}" in result.stdout
    assert (
        f"install_activity: install horizon, delete 90 row(s) with last_day < {keep.isoformat()}"
        in lines
    )
    assert await snapshot(admin) == before


async def test_service_passes_serves_ops_and_stops_on_sigterm(
    admin: asyncpg.Connection, database: str, tmp_path: Path
) -> None:
    port = free_port()
    service = ServiceProcess(
        ["retention"],
        {
            "CENSUS_PG_DSN": as_role(database, "census_retention"),
            "CENSUS_RETENTION_OPS_PORT": str(port),
        },
        port,
        tmp_path / "retention.log",
    )
    await service.start(ready_within_s=30)
    try:
        metrics = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        async with aiohttp.ClientSession() as http:
            while "census_retention_last_success_timestamp_seconds 0.0" in metrics or not metrics:
                assert loop.time() < deadline, "no successful pass within 30 s"
                await asyncio.sleep(0.2)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    metrics = await response.text()
        assert 'census_retention_partitions_dropped_total{table="install_days"} 30.0' in metrics
        assert min(await partition_days(admin, "install_days")) == TODAY - 89 * DAY
    finally:
        code = await service.stop(within_s=20)
    assert code == 0
    # The lock went with the process: another worker can take it at once.
    probe = await asyncpg.connect(database)
    try:
        assert await probe.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
    finally:
        await probe.close()
