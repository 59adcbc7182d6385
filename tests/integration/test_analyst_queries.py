"""Every SQL example analysts are given runs as the census_analyst role: the ones in
docs/analysts.md and the demo's report (deploy/local/report.sh)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest

from services.migrate.migrations import discover
from services.migrate.runner import migrate
from tests.support.stack import ROOT

DOC = ROOT / "docs" / "analysts.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def analyst(dsn: str) -> str:
    return dsn.replace("://census@", "://census_analyst@")


@pytest.fixture(scope="module")
async def migrated(database: str) -> str:
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn, discover(), today=dt.datetime.now(dt.UTC).date())
    finally:
        await conn.close()
    return database


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("sql", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_doc_example_runs_as_analyst(migrated: str, sql: str) -> None:
    conn = await asyncpg.connect(analyst(migrated))
    try:
        await conn.fetch(sql)
    finally:
        await conn.close()


def test_demo_report_runs_as_analyst(migrated: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROOT / "deploy" / "local" / "report.sh")],
        env={**os.environ, "CENSUS_PG_ANALYST_DSN": analyst(migrated)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr
    assert "Install failure rate per Proxmox script" in result.stdout
