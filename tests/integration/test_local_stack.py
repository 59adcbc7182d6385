"""deploy/local: starting twice is harmless, stopping leaves no process and no port behind."""

from __future__ import annotations

import socket
import subprocess

from tests.support.stack import ROOT, LocalStack


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_under(directory: str) -> list[str]:
    """Command lines that mention the stack's own directory (its Kafka and PostgreSQL)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if directory in line and "ps -eo" not in line]


def test_up_twice_then_down_leaves_nothing_behind() -> None:
    stack = LocalStack(
        local_dir=ROOT / ".local" / "test-stack-cycle",
        kafka_port=29492,
        kafka_controller_port=29493,
        pg_port=56832,
    )
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
