"""deploy/local: starting twice is harmless, stopping leaves no process and no port behind, a
service killed with SIGKILL starts again, and ingest gets an id secret of its own."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.kafka import delete_topic, unique_topic
from tests.support.ports import STACK_CYCLE
from tests.support.processes import free_port
from tests.support.retention import migrate_database
from tests.support.stack import ROOT, LocalStack, StackEndpoints


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_under(directory: str) -> list[str]:
    """Command lines that mention the stack's own directory (its Kafka and PostgreSQL)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if directory in line and "ps -eo" not in line]


def test_up_twice_then_down_leaves_nothing_behind() -> None:
    stack = LocalStack.private("test-stack-cycle", STACK_CYCLE)
    try:
        stack.up()
        stack.up()  # already running: a no-op, not an error
        assert port_open(stack.kafka_port)
        assert port_open(stack.pg_port)
    finally:
        stack.down()
    assert not port_open(stack.kafka_port)
    assert not port_open(stack.kafka_controller_port)
    assert not port_open(stack.pg_port)
    assert processes_under(str(stack.local_dir)) == []
    stack.down()  # stopping a stopped stack is harmless too


# --- services of the local stack, on the shared servers (no Kafka or PostgreSQL of their own) ---


def proc_state(pid: int) -> str | None:
    """The state letter of `pid` (R, S, Z, ...), or None once no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(") ")[2].split()[0]


def wait_dead(pid: int, within_s: float = 10.0) -> None:
    """Until `pid` is gone or a zombie (nothing may reap it here), or fail."""
    deadline = time.monotonic() + within_s
    while proc_state(pid) not in (None, "Z"):
        assert time.monotonic() < deadline, f"pid {pid} still alive after kill -9"
        time.sleep(0.05)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class LocalService:
    """One service driven through deploy/local/service.sh with a private CENSUS_LOCAL_DIR,
    pointed at the shared Kafka and a database of its own."""

    def __init__(self, name: str, local_dir: Path, bootstrap: str, dsn: str, **env: str) -> None:
        self.name = name
        self.local_dir = local_dir
        pg = urllib.parse.urlsplit(dsn)
        kafka_port = bootstrap.rpartition(":")[2]
        self.env = {
            key: value for key, value in os.environ.items() if key != "CENSUS_INGEST_ID_SECRET"
        }
        self.env.update(
            {
                "CENSUS_LOCAL_DIR": str(local_dir),
                "CENSUS_KAFKA_PORT": kafka_port,
                "CENSUS_PG_PORT": str(pg.port),
                "CENSUS_PG_SUPERUSER": pg.username or "census",
                "CENSUS_PG_DATABASE": pg.path.lstrip("/"),
                "CENSUS_START_TIMEOUT": "60",
                **env,
            }
        )

    def run(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "deploy" / "local" / "service.sh"), action, self.name],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def pid(self) -> int:
        return int((self.local_dir / "services" / f"{self.name}.pid").read_text())


@pytest.fixture
async def migrated_database(fresh_database: str) -> str:
    await migrate_database(fresh_database, dt.datetime.now(dt.UTC).date())
    return fresh_database


@pytest.mark.parametrize("name", ["aggregate", "retention"])
async def test_a_service_killed_with_sigkill_is_started_again(
    name: str, stack_endpoints: StackEndpoints, migrated_database: str, tmp_path: Path
) -> None:
    ops = free_port()
    topic = unique_topic("census.test.localstack")
    service = LocalService(
        name,
        tmp_path / "local",
        stack_endpoints.bootstrap,
        migrated_database,
        CENSUS_AGGREGATOR_OPS_PORT=str(ops),
        CENSUS_RETENTION_OPS_PORT=str(ops),
        CENSUS_KAFKA_TOPIC=topic,
        CENSUS_KAFKA_DLQ_TOPIC=topic + ".dlq",
        CENSUS_KAFKA_PARTITIONS="1",
        CENSUS_AGGREGATOR_GROUP=topic,
    )
    try:
        started = service.run("start")
        assert started.returncode == 0, started.stderr
        first = service.pid()
        assert ready(ops)
        os.kill(first, signal.SIGKILL)
        wait_dead(first)
        status = service.run("status")
        assert status.returncode == 1 and "stopped" in status.stdout, status.stdout
        again = service.run("start")
        assert again.returncode == 0, again.stderr
        assert "already running" not in again.stderr
        second = service.pid()
        assert second != first and proc_state(second) not in (None, "Z")
        assert ready(ops)
    finally:
        stopped = service.run("stop")
        if name == "aggregate":
            for created in (topic, topic + ".dlq"):
                await delete_topic(stack_endpoints.bootstrap, created)
    assert stopped.returncode == 0, stopped.stderr
    assert not port_open(ops)


async def test_local_ingest_generates_its_id_secret_once_and_keeps_it(
    stack_endpoints: StackEndpoints, migrated_database: str, tmp_path: Path
) -> None:
    port, ops = free_port(), free_port()
    topic = unique_topic("census.test.localstack")
    service = LocalService(
        "ingest",
        tmp_path / "local",
        stack_endpoints.bootstrap,
        migrated_database,
        CENSUS_INGEST_PORT=str(port),
        CENSUS_INGEST_OPS_PORT=str(ops),
        CENSUS_KAFKA_TOPIC=topic,
        CENSUS_KAFKA_PARTITIONS="1",
    )
    secret_file = tmp_path / "local" / "ingest-id-secret"
    try:
        started = service.run("start")
        assert started.returncode == 0, started.stderr
        secret = secret_file.read_text()
        assert len(secret) == 64 and int(secret, 16) >= 0  # 32 random bytes, hex
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert secret not in started.stderr  # said where it is, never what it is
        first = service.pid()
        os.kill(first, signal.SIGKILL)
        wait_dead(first)
        again = service.run("start")
        assert again.returncode == 0, again.stderr
        assert service.pid() != first and ready(ops)
        assert secret_file.read_text() == secret  # the same key after a restart
    finally:
        stopped = service.run("stop")
        await delete_topic(stack_endpoints.bootstrap, topic)
    assert stopped.returncode == 0, stopped.stderr
    log = (tmp_path / "local" / "services" / "ingest.log").read_text()
    assert secret not in log
