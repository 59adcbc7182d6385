"""Fleet → ingest → Kafka → aggregator → PostgreSQL: every analyst view equals the ground truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas.catalog import load_catalogs
from tests.support.pipeline import actual_views, run_fleet, running_pipeline, wait_counted
from tests.support.stack import StackEndpoints
from tests.support.truth import expected_views, load_truth
from tests.support.utcday import same_utc_day_for

CATALOGS = load_catalogs()


@pytest.mark.parametrize("batch", [1, 25], ids=["single", "batch"])
async def test_every_view_equals_the_ground_truth(
    stack_endpoints: StackEndpoints, fresh_database: str, tmp_path: Path, batch: int
) -> None:
    await same_utc_day_for(seconds=180)
    truth_file = tmp_path / "truth.jsonl"
    async with running_pipeline(
        bootstrap=stack_endpoints.bootstrap, dsn=fresh_database, logs=tmp_path / "logs"
    ) as pipeline:
        fleet = await run_fleet(
            pipeline.ingest_url,
            truth_file,
            seconds=12,
            rate=250,
            installs=600,
            batch=batch,
            seed=batch,
        )
        _, stderr = await fleet.communicate()
        assert fleet.returncode == 0, stderr.decode()[-2000:]
        truth = load_truth(truth_file)
        assert len(truth) > 1000
        counted = await wait_counted(fresh_database, len(truth), within_s=60)
        assert counted == len(truth)

    day = dt.datetime.now(dt.UTC).date()
    expected = expected_views(truth, CATALOGS)
    actual = await actual_views(fresh_database, day)
    assert actual.active == expected.active
    assert actual.dau == expected.dau
    assert actual.adoption == expected.adoption
    assert actual.counts == expected.counts
    assert actual.events == expected.events
    assert set(expected.dau) == {"pulse", "proxmox-scripts", "flowfuse", "novu", "maestrohub"}
